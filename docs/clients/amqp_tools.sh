#!/usr/bin/env bash
# Consume a package's queue with Debian's amqp-tools (apt-get install amqp-tools), printing each message
# body on a line of its own.
#
# The queue already exists: the service creates `_{packageId}_` on the `Fixtures` and `Incidents` vhosts
# when the package is activated. A customer may not declare it (403 ACCESS_REFUSED): `amqp-consume -q NAME`
# given no --exchange and no --exclusive declares nothing and consumes the existing queue; each message is
# acknowledged once the command it was piped into succeeded.
#
#   AMQP_HOST=feed.example.com AMQP_USERNAME=me AMQP_PASSWORD=secret PACKAGE_ID=123 \
#   AMQP_CA_FILE=/etc/ssl/certs/ca-certificates.crt bash amqp_tools.sh
#
# AMQP_CA_FILE set: TLS (AMQPS, port 5671 unless AMQP_PORT says otherwise), trusting that CA file; unset:
# plain AMQP on 5672 (local development only). AMQP_VHOST: `Fixtures` (default) or `Incidents`.
set -euo pipefail

: "${AMQP_USERNAME:?set AMQP_USERNAME}" "${AMQP_PASSWORD:?set AMQP_PASSWORD}" "${PACKAGE_ID:?set PACKAGE_ID}"

vhost=${AMQP_VHOST:-Fixtures}
consume=(--queue="_${PACKAGE_ID}_" --prefetch-count=100 -- sh -c 'cat; echo')

# Percent-encoded, for a URL: a username is often an e-mail address.
encoded() {
  local LC_ALL=C text=$1 i char
  for ((i = 0; i < ${#text}; i++)); do
    char=${text:i:1}
    case $char in
      [a-zA-Z0-9._~-]) printf '%s' "$char" ;;
      *) printf '%%%02X' "'$char" ;;
    esac
  done
}

if [ -z "${AMQP_CA_FILE:-}" ]; then
  # The credentials through a pipe (printf is a shell builtin), not on the command line where `ps` shows
  # them to every user of the machine.
  exec amqp-consume --server="${AMQP_HOST:-127.0.0.1}" --port="${AMQP_PORT:-5672}" --vhost="$vhost" \
    --authfile=<(printf 'username:%s\npassword:%s\n' "$AMQP_USERNAME" "$AMQP_PASSWORD") "${consume[@]}"
fi
# amqp-tools 0.11 (Debian 12) refuses --ssl beside --server and --authfile beside --url: over TLS, the URL
# has to carry the credentials, and `ps` shows them. On a machine shared with others, prefer another client.
url="amqps://$(encoded "$AMQP_USERNAME"):$(encoded "$AMQP_PASSWORD")@${AMQP_HOST:-127.0.0.1}:${AMQP_PORT:-5671}"
exec amqp-consume --url="$url/$(encoded "$vhost")" --cacert="$AMQP_CA_FILE" "${consume[@]}"
