package sandbox

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// The hot responses (batch results, list and search pages) are written by
// hand instead of through encoding/json's reflection and sorted-map
// encoder, which took about a fifth of a batch create's CPU. The output is
// byte-for-byte what json.Marshal writes for the same value
// (TestFastJSONMatchesEncodingJSON holds it to that), so clients cannot
// tell the difference. Rare parts (errors, associations) still go through
// json.Marshal.

// jsonAppender is a response body that can append its own JSON encoding,
// identical to json.Marshal's.
type jsonAppender interface {
	appendJSON(dst []byte) ([]byte, error)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 4<<20 {
		return // let a huge one go rather than pin it
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// marshalAppend appends v's JSON encoding to dst.
func marshalAppend(dst []byte, v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		return a.appendJSON(dst)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString mirrors encoding/json's string encoding with HTML
// escaping on (its default): <, > and & as \u003c…, invalid UTF-8 as
// \ufffd, U+2028/U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendKey(dst []byte, k string) []byte {
	dst = appendJSONString(dst, k)
	return append(dst, ':')
}

func (po *publicObject) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, po.ID)
	dst = append(dst, `,"properties":`...)
	if po.Properties == nil {
		dst = append(dst, "null"...)
	} else {
		var arr [24]string
		keys := arr[:0]
		for k := range po.Properties {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, k)
			if v := po.Properties[k]; v == nil {
				dst = append(dst, "null"...)
			} else {
				dst = appendJSONString(dst, *v)
			}
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"createdAt":`...)
	dst = appendJSONString(dst, po.CreatedAt)
	dst = append(dst, `,"updatedAt":`...)
	dst = appendJSONString(dst, po.UpdatedAt)
	dst = append(dst, `,"archived":`...)
	dst = strconv.AppendBool(dst, po.Archived)
	if po.ArchivedAt != "" {
		dst = append(dst, `,"archivedAt":`...)
		dst = appendJSONString(dst, po.ArchivedAt)
	}
	if len(po.Associations) > 0 {
		dst = append(dst, `,"associations":`...)
		var err error
		if dst, err = marshalAppend(dst, po.Associations); err != nil {
			return dst, err
		}
	}
	if po.New != nil {
		dst = append(dst, `,"new":`...)
		dst = strconv.AppendBool(dst, *po.New)
	}
	if po.TraceID != "" {
		dst = append(dst, `,"objectWriteTraceId":`...)
		dst = appendJSONString(dst, po.TraceID)
	}
	return append(dst, '}'), nil
}

func appendObjects(dst []byte, objs []publicObject) ([]byte, error) {
	if objs == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	for i := range objs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = objs[i].appendJSON(dst); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func (br batchResponse) appendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"status":`...)
	dst = appendJSONString(dst, br.Status)
	dst = append(dst, `,"results":`...)
	if objs, ok := br.Results.([]publicObject); ok {
		dst, err = appendObjects(dst, objs)
	} else {
		dst, err = marshalAppend(dst, br.Results)
	}
	if err != nil {
		return dst, err
	}
	if br.NumErrors != 0 {
		dst = append(dst, `,"numErrors":`...)
		dst = strconv.AppendInt(dst, int64(br.NumErrors), 10)
	}
	if len(br.Errors) > 0 {
		dst = append(dst, `,"errors":`...)
		if dst, err = marshalAppend(dst, br.Errors); err != nil {
			return dst, err
		}
	}
	if br.RequestedAt != "" {
		dst = append(dst, `,"requestedAt":`...)
		dst = appendJSONString(dst, br.RequestedAt)
	}
	dst = append(dst, `,"startedAt":`...)
	dst = appendJSONString(dst, br.StartedAt)
	dst = append(dst, `,"completedAt":`...)
	dst = appendJSONString(dst, br.CompletedAt)
	return append(dst, '}'), nil
}

func (cr collectionResponse) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	if cr.Total != nil {
		dst = append(dst, `"total":`...)
		dst = strconv.AppendInt(dst, int64(*cr.Total), 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"results":`...)
	dst, err := appendObjects(dst, cr.Results)
	if err != nil {
		return dst, err
	}
	if cr.Paging != nil {
		dst = append(dst, `,"paging":`...)
		if dst, err = marshalAppend(dst, cr.Paging); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendTime appends formatTime(t) without time.Format's layout parsing
// (formatTime ran several times per record and showed in profiles).
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Truncate(time.Millisecond).AppendFormat(dst, timeLayout(t))
	}
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	dst = append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
	if ms != 0 {
		dst = append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	}
	return append(dst, 'Z')
}

func timeLayout(t time.Time) string {
	if t.Truncate(time.Millisecond).Nanosecond() == 0 {
		return "2006-01-02T15:04:05Z"
	}
	return "2006-01-02T15:04:05.000Z"
}
