package batch

// LedgerCreated lists the records a ledger says were created and still
// exist as far as it knows (a key's last event is "created"), in the
// order they were first created. It holds them all, in the simplest way:
// the reference EachCreated is held to, and the tests' way to list them.
func LedgerCreated(path string) ([]CreatedRecord, error) {
	last := map[string]LedgerRow{}
	var order []string
	err := ReadLedger(path, func(r LedgerRow) error {
		if !settlesKey(r) {
			return nil
		}
		if _, seen := last[r.Key]; !seen {
			order = append(order, r.Key)
		}
		prev, had := last[r.Key]
		// A reconcile event carries no body hash: keep the one the create had.
		if had && r.BodySHA256 == "" && prev.HubSpotID == r.HubSpotID {
			r.BodySHA256 = prev.BodySHA256
		}
		last[r.Key] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []CreatedRecord
	for _, k := range order {
		r := last[k]
		if r.State == StateCreated && r.HubSpotID != "" {
			out = append(out, CreatedRecord{Key: k, ID: r.HubSpotID, BodySHA256: r.BodySHA256, File: r.SourceFile, Line: r.SourceLine})
		}
	}
	return out, nil
}
