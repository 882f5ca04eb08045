"""The Kafka runtime: the only code that imports aiokafka or Faust."""
