package sandbox

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
)

// exportLabels maps the column labels of HubSpot's contacts export to
// property names. "Record ID" is read but not kept: the sandbox assigns ids.
var exportLabels = map[string]string{
	"record id": "", "first name": "firstname", "last name": "lastname", "email": "email",
	"phone number": "phone", "mobile phone number": "mobilephone", "linkedin url": "hs_linkedin_url",
	"whatsapp phone number": "hs_whatsapp_phone_number", "company name": "company", "company": "company",
}

// seedStore adds the configured seed data to a fresh store.
func seedStore(st *store, opts Options) error {
	if opts.ContactsFile != "" {
		if err := seedFile(st, opts.ContactsFile); err != nil {
			return err
		}
	}
	if opts.Contacts > 0 {
		seedSynthetic(st, opts.Contacts, opts.Seed)
	}
	return nil
}

func seedFile(st *store, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("contacts file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("contacts file %s:1: reading header: %w", path, err)
	}
	tb := st.table("contacts")
	cols := make([]string, len(header))
	known := 0
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		switch p, ok := exportLabels[strings.ToLower(h)]; {
		case ok:
			cols[i] = p
		case tb.props[h] != nil:
			cols[i] = h
		default:
			return fmt.Errorf("contacts file %s:1: column %q is neither a contact property nor a label of HubSpot's contacts export", path, h)
		}
		if cols[i] != "" {
			known++
		}
	}
	if known == 0 {
		return fmt.Errorf("contacts file %s:1: no usable columns", path)
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("contacts file %s:%d: %w", path, line, err)
		}
		in := map[string]flexString{}
		for i, v := range rec {
			if i < len(cols) && cols[i] != "" && strings.TrimSpace(v) != "" {
				in[cols[i]] = flexString{s: strings.TrimSpace(v)}
			}
		}
		props, probs := tb.validateWrite(in, true)
		if len(probs) > 0 {
			return fmt.Errorf("contacts file %s:%d: %s: %s", path, line, probs[0].Name, probs[0].Message)
		}
		if e := tb.uniqueConflict(0, props, nil); e != nil {
			return fmt.Errorf("contacts file %s:%d: %s", path, line, e.Errors[0].Message)
		}
		st.create(tb, props)
	}
}

var (
	firstNames = []string{"Ana", "Ben", "Carla", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luca", "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara"}
	lastNames  = []string{"Silva", "Müller", "Okafor", "Rossi", "Nguyen", "Schmidt", "Garcia", "Tanaka", "Kowalski", "Dubois", "Haddad", "Larsen", "Moreau", "Novak", "Patel"}
	// phone patterns per country: calling code, leading digits, national length.
	phonePlans = []struct {
		cc, lead string
		digits   int // national number length
	}{
		{"+49", "151", 11}, {"+44", "7700", 10}, {"+1", "415555", 10}, {"+33", "6", 9}, {"+34", "6", 9}, {"+351", "91", 9}, {"+55", "1199", 11}, {"+91", "98", 10},
	}
	companyWords = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Cyberdyne"}
)

// seedSynthetic creates n contacts with emails, E.164 phones, WhatsApp
// numbers and LinkedIn URLs, plus companies, deals and tickets linked to
// them — deterministic for a seed.
func seedSynthetic(st *store, n int, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7365656473))
	contacts, companies, deals, tickets := st.table("contacts"), st.table("companies"), st.table("deals"), st.table("tickets")
	nCompanies := n/10 + 1
	var comps []*object
	for i := range nCompanies {
		name := fmt.Sprintf("%s %d", companyWords[i%len(companyWords)], i+1)
		domain := strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example.com"
		comps = append(comps, st.create(companies, map[string]string{"name": name, "domain": domain}))
	}
	companyContact, _ := defaultAssoc("contacts", "companies")
	dealContact, _ := defaultAssoc("deals", "contacts")
	dealCompany, _ := defaultAssoc("deals", "companies")
	ticketContact, _ := defaultAssoc("tickets", "contacts")
	for i := range n {
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		plan := phonePlans[rng.IntN(len(phonePlans))]
		digits := func(k int) string {
			var b strings.Builder
			for range k {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			return b.String()
		}
		mobile := plan.cc + plan.lead + digits(plan.digits-len(plan.lead))
		in := map[string]flexString{
			"firstname":                {s: first},
			"lastname":                 {s: last},
			"email":                    {s: fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), asciiLower(last), i+1)},
			"mobilephone":              {s: mobile},
			"hs_whatsapp_phone_number": {s: mobile},
			"hs_linkedin_url":          {s: fmt.Sprintf("https://www.linkedin.com/in/%s-%s-%d", strings.ToLower(first), asciiLower(last), i+1)},
		}
		if rng.IntN(2) == 0 {
			in["phone"] = flexString{s: plan.cc + plan.lead + digits(plan.digits-len(plan.lead))}
		}
		comp := comps[i%len(comps)]
		in["company"] = flexString{s: comp.props["name"]}
		props, _ := contacts.validateWrite(in, true)
		c := st.create(contacts, props)
		st.associate(companyContact, c, comp)
		if i%5 == 0 {
			d := st.create(deals, map[string]string{"dealname": fmt.Sprintf("%s renewal", comp.props["name"]), "dealstage": "appointmentscheduled", "pipeline": "default"})
			st.associate(dealContact, d, c)
			st.associate(dealCompany, d, comp)
		}
		if i%7 == 0 {
			t := st.create(tickets, map[string]string{"subject": fmt.Sprintf("Question from %s", first), "hs_pipeline": "0", "hs_pipeline_stage": "1"})
			st.associate(ticketContact, t, c)
		}
	}
}

func asciiLower(s string) string {
	r := strings.NewReplacer("ü", "u", "ö", "o", "ä", "a", "é", "e")
	return strings.ToLower(r.Replace(s))
}
