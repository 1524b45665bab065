package node

import (
	"bufio"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Prometheus text exposition format, version 0.0.4, as GET /metrics writes
// it (Content-Type: text/plain; version=0.0.4; charset=utf-8). The body is
// UTF-8 text, one line per item, each line ending in "\n":
//
//	# HELP <name> <help text, "\" written as "\\" and a newline as "\n">
//	# TYPE <name> counter|gauge|histogram
//	<name>{<label>="<value>",...} <value>
//
// Families are written in ascending order of name; each family's HELP line
// (left out when the help text is empty) and TYPE line come once, directly
// before its samples. A family's counter and gauge
// samples are sorted by their rendered label sets, so the output is stable
// whatever order the node reports them in; a later sample with the same
// labels replaces an earlier one. A histogram family writes, for each label
// set, its "_bucket" samples with cumulative counts in ascending order of the
// "le" label (ending with le="+Inf"), then "_sum" and "_count".
//
// Metric names match [a-zA-Z_:][a-zA-Z0-9_:]* and label names
// [a-zA-Z_][a-zA-Z0-9_]*: any other byte of a name is written as "_". In a
// label value, "\" is written as "\\", a double quote as "\"" and a newline
// as "\n". Sample values are Go's shortest 'g' formatting of the float64, or
// "+Inf", "-Inf", "NaN".

// promContentType is the Content-Type of GET /metrics.
const promContentType = "text/plain; version=0.0.4; charset=utf-8"

// promSample is one line of a family: the name suffix ("" or "_bucket",
// "_sum", "_count"), the rendered label set ("" or `{a="b"}`), the value.
type promSample struct {
	suffix string
	labels string
	value  float64
}

type promFamily struct {
	name, help, typ string
	samples         []promSample
}

// promRegistry collects the samples of one scrape and renders them. It
// implements MetricsWriter. It is not safe for concurrent use: each scrape
// builds its own.
type promRegistry struct {
	fams map[string]*promFamily
}

var _ MetricsWriter = (*promRegistry)(nil)

func newPromRegistry() *promRegistry {
	return &promRegistry{fams: make(map[string]*promFamily)}
}

// Counter implements MetricsWriter.
func (p *promRegistry) Counter(name, help string, value float64, labels ...string) {
	p.add(name, help, "counter", "", value, promLabels(labels))
}

// Gauge implements MetricsWriter.
func (p *promRegistry) Gauge(name, help string, value float64, labels ...string) {
	p.add(name, help, "gauge", "", value, promLabels(labels))
}

// family returns the family called name, creating it with help and typ. A
// family keeps the help and type it was first created with.
func (p *promRegistry) family(name, help, typ string) *promFamily {
	name = promName(name)
	f := p.fams[name]
	if f == nil {
		f = &promFamily{name: name, help: help, typ: typ}
		p.fams[name] = f
	}
	return f
}

func (p *promRegistry) add(name, help, typ, suffix string, value float64, labels string) {
	f := p.family(name, help, typ)
	f.samples = append(f.samples, promSample{suffix: suffix, labels: labels, value: value})
}

// writeTo renders every family in the text format.
func (p *promRegistry) writeTo(w io.Writer) error {
	names := make([]string, 0, len(p.fams))
	for n := range p.fams {
		names = append(names, n)
	}
	slices.Sort(names)
	bw := bufio.NewWriter(w)
	for _, n := range names {
		f := p.fams[n]
		samples := f.samples
		if f.typ != "histogram" {
			// Stable sort, then keep the last sample of each label set.
			slices.SortStableFunc(samples, func(a, b promSample) int { return strings.Compare(a.labels, b.labels) })
			out := samples[:0]
			for i, s := range samples {
				if i+1 < len(samples) && samples[i+1].labels == s.labels {
					continue
				}
				out = append(out, s)
			}
			samples = out
		}
		if f.help != "" {
			bw.WriteString("# HELP ")
			bw.WriteString(f.name)
			bw.WriteByte(' ')
			bw.WriteString(promEscapeHelp(f.help))
			bw.WriteByte('\n')
		}
		bw.WriteString("# TYPE ")
		bw.WriteString(f.name)
		bw.WriteByte(' ')
		bw.WriteString(f.typ)
		bw.WriteByte('\n')
		for _, s := range samples {
			bw.WriteString(f.name)
			bw.WriteString(s.suffix)
			bw.WriteString(s.labels)
			bw.WriteByte(' ')
			bw.WriteString(promFloat(s.value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// promLabels renders alternating label names and values as `{a="b",c="d"}`,
// or "" when there are none. A trailing name without a value is dropped.
func promLabels(kv []string) string {
	if len(kv) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(promLabelName(kv[i]))
		b.WriteString(`="`)
		promEscapeLabelValue(&b, kv[i+1])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func promEscapeLabelValue(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}

func promEscapeHelp(h string) string {
	if !strings.ContainsAny(h, "\\\n") {
		return h
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(h)
}

// promName makes name a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
func promName(name string) string { return promSanitize(name, true) }

// promLabelName makes name a valid label name: [a-zA-Z_][a-zA-Z0-9_]*.
func promLabelName(name string) string { return promSanitize(name, false) }

func promSanitize(s string, colon bool) string {
	valid := func(i int, c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' ||
			colon && c == ':' || i > 0 && c >= '0' && c <= '9'
	}
	ok := s != ""
	for i := 0; ok && i < len(s); i++ {
		ok = valid(i, s[i])
	}
	if ok {
		return s
	}
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		if !valid(i, c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func promFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// HTTP request metrics kept by the HTTP layer itself.

// httpRoute names what a request was routed to; its label value is
// httpRouteNames[route].
type httpRoute uint8

const (
	httpRouteOther httpRoute = iota // unknown path or method not allowed
	httpRouteLegacyGet
	httpRouteLegacyPut
	httpRouteLegacyDelete
	httpRouteLegacyBatchPut
	httpRouteLegacyRange
	httpRouteKVGet
	httpRouteKVPut
	httpRouteKVDelete
	httpRouteKVBatch
	httpRouteKVRange
	httpRouteHealthz
	httpRouteStatus
	httpRouteMetrics
	httpNumRoutes
)

var httpRouteNames = [httpNumRoutes]string{
	httpRouteOther:          "other",
	httpRouteLegacyGet:      "legacy_get",
	httpRouteLegacyPut:      "legacy_put",
	httpRouteLegacyDelete:   "legacy_delete",
	httpRouteLegacyBatchPut: "legacy_batchput",
	httpRouteLegacyRange:    "legacy_range",
	httpRouteKVGet:          "kv_get",
	httpRouteKVPut:          "kv_put",
	httpRouteKVDelete:       "kv_delete",
	httpRouteKVBatch:        "kv_batch",
	httpRouteKVRange:        "kv_range",
	httpRouteHealthz:        "healthz",
	httpRouteStatus:         "status",
	httpRouteMetrics:        "metrics",
}

// httpNumClasses counts the status classes 1xx..5xx; class i is "<i+1>xx".
const httpNumClasses = 5

var httpClassNames = [httpNumClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// httpDurationBuckets are the upper bounds, in seconds, of the request
// duration histogram's buckets (plus +Inf). They are fixed: changing them
// breaks dashboards.
var httpDurationBuckets = [...]float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// httpSeries is the counters of one (route, status class).
type httpSeries struct {
	sumNano atomic.Int64
	// buckets[i] counts the requests that took at most
	// httpDurationBuckets[i] and more than the bound before it; the last
	// counts the rest (+Inf).
	buckets [len(httpDurationBuckets) + 1]atomic.Uint64
}

// httpMetrics is the HTTP layer's request accounting. It is safe for
// concurrent use; recording a request allocates nothing.
type httpMetrics struct {
	inFlight atomic.Int64
	series   [httpNumRoutes][httpNumClasses]httpSeries
}

// observe records one finished request.
func (m *httpMetrics) observe(route httpRoute, code int, d time.Duration) {
	class := code/100 - 1
	if class < 0 || class >= httpNumClasses {
		class = httpNumClasses - 1
	}
	if route >= httpNumRoutes {
		route = httpRouteOther
	}
	s := &m.series[route][class]
	secs := d.Seconds()
	i, _ := slices.BinarySearch(httpDurationBuckets[:], secs)
	s.buckets[i].Add(1)
	s.sumNano.Add(int64(d))
}

// writeTo adds the HTTP metrics to p. Only (route, class) pairs that have
// seen a request are written.
func (m *httpMetrics) writeTo(p *promRegistry) {
	const (
		reqName  = "kvstore_http_requests_total"
		reqHelp  = "HTTP requests served, by route and status class (code is 1xx..5xx)."
		durName  = "kvstore_http_request_duration_seconds"
		durHelp  = "HTTP request latency in seconds, from routing to the last byte written, by route and status class."
		flName   = "kvstore_http_requests_in_flight"
		flHelp   = "HTTP requests being served."
		histType = "histogram"
	)
	p.Gauge(flName, flHelp, float64(m.inFlight.Load()))
	reqs := p.family(reqName, reqHelp, "counter")
	dur := p.family(durName, durHelp, histType)
	for r := range httpNumRoutes {
		for c := range httpNumClasses {
			s := &m.series[r][c]
			// Read the buckets first and derive the count from them, so
			// that the +Inf bucket equals _count even while requests land.
			var cum uint64
			var bucketCounts [len(httpDurationBuckets) + 1]uint64
			for i := range s.buckets {
				cum += s.buckets[i].Load()
				bucketCounts[i] = cum
			}
			if cum == 0 {
				continue
			}
			route, class := httpRouteNames[r], httpClassNames[c]
			reqs.samples = append(reqs.samples, promSample{
				labels: promLabels([]string{"route", route, "code", class}),
				value:  float64(cum),
			})
			for i, n := range bucketCounts {
				le := "+Inf"
				if i < len(httpDurationBuckets) {
					le = promFloat(httpDurationBuckets[i])
				}
				dur.samples = append(dur.samples, promSample{
					suffix: "_bucket",
					labels: promLabels([]string{"route", route, "code", class, "le", le}),
					value:  float64(n),
				})
			}
			base := promLabels([]string{"route", route, "code", class})
			dur.samples = append(dur.samples,
				promSample{suffix: "_sum", labels: base, value: time.Duration(s.sumNano.Load()).Seconds()},
				promSample{suffix: "_count", labels: base, value: float64(cum)},
			)
		}
	}
}
