package bench

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/commlog/commlog/batch"
	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/mapping"
)

// PipelineResult compares the local import pipeline — read, parse, map,
// key, batch and ledger, with the network stubbed out — with encoding/csv
// reading the same file.
type PipelineResult struct {
	Bytes                 int64   `json:"bytes"`
	Rows                  int64   `json:"rows"`
	Created               int64   `json:"created"`
	CSVSeconds            float64 `json:"csv_seconds"`
	CSVMBPerSecond        float64 `json:"csv_mb_per_second"`
	PipelineSeconds       float64 `json:"pipeline_seconds"`
	PipelineMBPerSecond   float64 `json:"pipeline_mb_per_second"`
	PipelineRowsPerSecond float64 `json:"pipeline_rows_per_second"`
	// Ratio = CSVSeconds ÷ PipelineSeconds.
	Ratio float64 `json:"ratio"`
}

// pipelineContact is the one contact the stub lists.
const pipelineContact = "101"

func measurePipeline(ctx context.Context, opts Options, dir string) (*PipelineResult, error) {
	input, mappingPath := filepath.Join(dir, "pipeline.csv"), filepath.Join(dir, "pipeline.yaml")
	rows, size, err := writeChatCSV(input, 0, opts.Sizes.PipelineBytes, pipelineContact)
	if err != nil {
		return nil, err
	}
	if err := writeMapping(mappingPath); err != nil {
		return nil, err
	}
	m, err := mapping.Load(mappingPath)
	if err != nil {
		return nil, err
	}
	// Both sides read from the page cache: the first pass warms it, and
	// the faster of two passes is the baseline.
	var csvTime time.Duration
	for pass := 0; pass < 3; pass++ {
		d, n, err := readCSV(input)
		if err != nil {
			return nil, err
		}
		if n != int64(rows) {
			return nil, fmt.Errorf("encoding/csv read %d records of %s, want %d", n, input, rows)
		}
		if pass > 0 && (csvTime == 0 || d < csvTime) {
			csvTime = d
		}
	}
	api := &stubAPI{}
	if opts.ProfileDir != "" {
		stop, err := startCPUProfile(filepath.Join(opts.ProfileDir, "pipeline.cpu.pprof"))
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	start := time.Now()
	sum, err := batch.Import(ctx, batch.ImportOptions{
		RunOptions: batch.RunOptions{Ledger: filepath.Join(dir, "pipeline.ledger.csv"), SampleEvery: time.Second},
		Mapping:    m, Inputs: []string{input}, SearchSettle: time.Second, API: api,
	})
	pipeTime := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("import with the network stubbed out: %w", err)
	}
	if sum.Rows != int64(rows) {
		return nil, fmt.Errorf("import read %d rows of %s, want %d", sum.Rows, input, rows)
	}
	const mb = 1 << 20
	return &PipelineResult{
		Bytes: size, Rows: sum.Rows, Created: sum.Created,
		CSVSeconds: round(csvTime.Seconds(), 4), CSVMBPerSecond: round(float64(size)/mb/csvTime.Seconds(), 1),
		PipelineSeconds:       round(pipeTime.Seconds(), 4),
		PipelineMBPerSecond:   round(float64(size)/mb/pipeTime.Seconds(), 1),
		PipelineRowsPerSecond: round(float64(sum.Rows)/pipeTime.Seconds(), 0),
		Ratio:                 round(csvTime.Seconds()/pipeTime.Seconds(), 4),
	}, nil
}

// readCSV is the baseline: encoding/csv with ReuseRecord, as fast as the
// standard library reads the file. It returns the data records read.
func readCSV(path string) (time.Duration, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	start := time.Now()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.ReuseRecord = true
	var n, fields int64
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		n++
		fields += int64(len(rec))
	}
	if fields == 0 {
		return 0, 0, fmt.Errorf("%s: no fields", path)
	}
	return time.Since(start), n - 1, nil // the header is no record
}

// stubAPI answers the import instantly: every batch is created, one
// contact exists, nothing is ever in doubt. It is the network "stubbed
// out", not a fake of HubSpot's behaviour.
type stubAPI struct {
	nextID   atomic.Int64
	requests atomic.Int64
}

var _ batch.API = (*stubAPI)(nil)

func (s *stubAPI) BatchCreate(ctx context.Context, _ string, inputs []crm.CreateInput) (*crm.BatchResult, error) {
	// Where the client would: the import writes its "sent" events here.
	if err := crm.CallBeforeSend(ctx, 0); err != nil {
		return nil, err
	}
	s.requests.Add(1)
	res := &crm.BatchResult{Status: "COMPLETE", Results: make([]crm.Object, len(inputs))}
	for i, in := range inputs {
		res.Results[i] = crm.Object{
			ID:         strconv.FormatInt(s.nextID.Add(1), 10),
			Properties: in.Properties, ObjectWriteTraceID: in.ObjectWriteTraceID,
		}
	}
	return res, nil
}

func (s *stubAPI) Search(context.Context, string, crm.SearchRequest) (*crm.SearchResult, error) {
	s.requests.Add(1)
	return &crm.SearchResult{}, nil
}

func (s *stubAPI) List(_ context.Context, objectType string, _ crm.ListOptions) (*crm.Page, error) {
	s.requests.Add(1)
	if objectType != crm.Contacts {
		return &crm.Page{}, nil
	}
	return &crm.Page{Results: []crm.Object{{ID: pipelineContact, Properties: map[string]string{"hs_object_id": pipelineContact}}}}, nil
}

func (s *stubAPI) Properties(context.Context, string) ([]crm.Property, error) { return nil, nil }
func (s *stubAPI) Owners(context.Context) ([]crm.Owner, error)                { return nil, nil }
func (s *stubAPI) EnsureKeyProperty(context.Context) error                    { return nil }
func (s *stubAPI) Budget() crm.Budget                                         { return crm.Budget{} }
func (s *stubAPI) Stats() crm.Stats                                           { return crm.Stats{Requests: s.requests.Load()} }

// startCPUProfile profiles the process until the returned func is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
