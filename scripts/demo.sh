#!/usr/bin/env bash
# make demo: import every sample into the embedded sandbox, show the ledger,
# import again (nothing is created twice), export, and write the run report.
set -uo pipefail
BIN=${1:-bin/commlog}
OUT=demo-out
rm -rf .commlog/sandbox "$OUT"
mkdir -p "$OUT"
export COMMLOG_SANDBOX=1 COMMLOG_SANDBOX_CONTACTS=samples/contacts.csv COMMLOG_NO_PROGRESS=1 COMMLOG_LOG_LEVEL=warn

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
  printf '$ %s\n' "$*"
  "$@"
  local rc=$?
  [ $rc -eq 0 ] || printf '(exit %d)\n' "$rc"
  return 0
}

# mapping:input, one per sample format
inputs=(
  samples/whatsapp.yaml:samples/whatsapp.txt
  samples/linkedin-messages.yaml:samples/linkedin-messages.csv
  samples/sms-backup.yaml:samples/sms-backup.xml
  samples/twilio.yaml:samples/twilio.csv
  samples/chats.yaml:samples/chats.csv
  samples/chats-jsonl.yaml:samples/chats.jsonl
)

say "1. Import every sample into the embedded sandbox (state in .commlog/sandbox/)"
for pair in "${inputs[@]}"; do
  m=${pair%%:*}; input=${pair#*:}; name=$(basename "$m" .yaml)
  run "$BIN" import --mapping "$m" --ledger "$OUT/$name.ledger.csv" --search-settle 2s "$input"
done

echo
echo "Exit 3 above is on purpose: the samples talk to one number that is not in samples/contacts.csv"
echo "and one that two contacts share, so those rows are 'unresolved' (never guessed, never orphaned)."

fname=whatsapp
say "2. The first lines of a result ledger ($OUT/$fname.ledger.csv)"
head -n 8 "$OUT/$fname.ledger.csv"

say "3. Import everything again: the ledger resumes, nothing is created twice"
for pair in "${inputs[@]}"; do
  m=${pair%%:*}; input=${pair#*:}; name=$(basename "$m" .yaml)
  run "$BIN" import --mapping "$m" --ledger "$OUT/$name.ledger.csv" --search-settle 2s "$input"
done

if "$BIN" export --help >/dev/null 2>&1; then
  say "4. Export every communication in the sandbox"
  run "$BIN" export --output "$OUT/export.csv" --associations contacts
  head -n 5 "$OUT/export.csv" | cut -c 1-200
fi

if "$BIN" report --help >/dev/null 2>&1; then
  say "5. The HTML run report"
  run "$BIN" report --ledger "$OUT/sms-backup.ledger.csv" --out "$OUT/report.html"
  echo "open $OUT/report.html in a browser"
fi

say "Done"
echo "To see the imported messages on the contacts' timelines, run:"
echo "  $BIN sandbox --state .commlog/sandbox   # then open http://127.0.0.1:8089/"
