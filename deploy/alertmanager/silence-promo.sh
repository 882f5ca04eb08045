#!/bin/sh
# Silence the order_volume alerts of one channel during a planned promotion.
#
# A promo makes orders jump on purpose; without a silence the dynamic threshold
# flags it as a spike. Only the promoted series is silenced: other channels, and
# the other rules on the same channel (returns, complaints), still alert.
#
# Usage:
#   ALERTMANAGER_URL=http://localhost:9093 \
#   PROMO_START=2025-11-28T00:00:00Z PROMO_END=2025-11-29T06:00:00Z \
#   ./silence-promo.sh app
#
# Prints the silence id; lift it early with `amtool silence expire ID`.
set -eu

CHANNEL="${1:-app}"
ALERTMANAGER_URL="${ALERTMANAGER_URL:-http://localhost:9093}"
PROMO_START="${PROMO_START:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
PROMO_END="${PROMO_END:-$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)}"

exec amtool silence add \
  --alertmanager.url="$ALERTMANAGER_URL" \
  --author="${USER:-ops}" \
  --comment="Planned promotion on channel $CHANNEL: order volume is expected to spike." \
  --start="$PROMO_START" \
  --end="$PROMO_END" \
  alertname=AftersalesAnomaly rule=order_volume dimension=channel key="$CHANNEL"
