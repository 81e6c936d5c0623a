package sandbox

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hostile strings cover every escaping rule of encoding/json.
var hostile = []string{"", "plain", `quote " backslash \ slash /`, "<script>alert(1)</script> & co",
	"ctl \x00\x01\x1f \b\f\n\r\t", "bad utf8 \xff\xfe end", "sep \u2028 \u2029", "emoji 😀 ünïcödé", "\x7f del"}

func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		if rng.IntN(3) == 0 {
			b := make([]byte, rng.IntN(12))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return string(b)
		}
		return hostile[rng.IntN(len(hostile))]
	}
	obj := func() publicObject {
		po := publicObject{ID: str(), CreatedAt: str(), UpdatedAt: str(), Archived: rng.IntN(2) == 0}
		if rng.IntN(5) > 0 {
			po.Properties = map[string]*string{}
			for range rng.IntN(8) {
				if rng.IntN(4) == 0 {
					po.Properties[str()] = nil
				} else {
					v := str()
					po.Properties[str()] = &v
				}
			}
		}
		if rng.IntN(2) == 0 {
			po.ArchivedAt = str()
		}
		if rng.IntN(3) == 0 {
			po.Associations = map[string]assocCollection{str(): {Results: []associatedID{{ID: str(), Type: str()}}}}
		}
		if rng.IntN(3) == 0 {
			b := rng.IntN(2) == 0
			po.New = &b
		}
		if rng.IntN(2) == 0 {
			po.TraceID = str()
		}
		return po
	}
	objs := func() []publicObject {
		if rng.IntN(6) == 0 {
			return nil
		}
		out := []publicObject{}
		for range rng.IntN(4) {
			out = append(out, obj())
		}
		return out
	}
	for i := range 2000 {
		var v any
		switch i % 3 {
		case 0:
			br := batchResponse{Status: str(), Results: objs(), StartedAt: str(), CompletedAt: str(), RequestedAt: str()}
			if rng.IntN(3) == 0 {
				br.Results = []v4LabelsResult{{FromObjectID: 5, Labels: []string{str()}}}
			}
			if rng.IntN(3) == 0 {
				br.NumErrors = 1
				br.Errors = []apiError{*badRequest("%s", str())}
			}
			v = br
		case 1:
			cr := collectionResponse{Results: objs()}
			if rng.IntN(2) == 0 {
				n := rng.IntN(1000)
				cr.Total = &n
			}
			if rng.IntN(2) == 0 {
				cr.Paging = &paging{Next: nextPage{After: str(), Link: str()}}
			}
			v = cr
		default:
			po := obj()
			v = &po
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalAppend(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Fatalf("case %d: fast encoding differs from encoding/json (-want +got):\n%s", i, diff)
		}
	}
}

func TestFormatTime(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), "2024-05-01T10:00:00Z"},
		{time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC), "2024-05-01T10:00:00.123Z"},
		{time.Date(2024, 5, 1, 10, 0, 0, 999999, time.UTC), "2024-05-01T10:00:00Z"},
		{time.Date(2024, 12, 31, 23, 59, 59, 7e6, time.FixedZone("x", 3600)), "2024-12-31T22:59:59.007Z"},
		{time.UnixMilli(0), "1970-01-01T00:00:00Z"},
		{time.Date(12345, 1, 2, 3, 4, 5, 0, time.UTC), "12345-01-02T03:04:05Z"},
		{time.Date(1, 1, 1, 0, 0, 0, 50e6, time.UTC), "0001-01-01T00:00:00.050Z"},
	} {
		if got := formatTime(tc.in); got != tc.want {
			t.Errorf("formatTime(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFlexStringDecode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		null     bool
		bad      bool
	}{
		{in: `"abc"`, want: "abc"},
		{in: `"a\"b\\c\u00e9"`, want: `a"b\cé`},
		{in: "\"bad \xff\"", want: "bad \ufffd"},
		{in: `12.5`, want: "12.5"},
		{in: `-3`, want: "-3"},
		{in: `true`, want: "true"},
		{in: `null`, null: true},
		{in: `{}`, bad: true},
		{in: `[1]`, bad: true},
	} {
		var m map[string]flexString
		err := json.Unmarshal([]byte(`{"k":`+tc.in+`}`), &m)
		if (err != nil) != tc.bad {
			t.Errorf("%s: err = %v, want bad=%v", tc.in, err, tc.bad)
			continue
		}
		if got := m["k"]; !tc.bad && (got.s != tc.want || got.null != tc.null) {
			t.Errorf("%s: got %+v, want %q null=%v", tc.in, got, tc.want, tc.null)
		}
	}
}
