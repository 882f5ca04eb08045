"""The pure pipeline shared by Kafka and replay: stage 1 (aggregate), stage 2 (closer), replay."""
