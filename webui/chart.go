package webui

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartWidth  = 600
	chartHeight = 200
	chartLeft   = 48 // room for the y labels
	chartRight  = 8
	chartTop    = 8
	chartBottom = 20 // room for the time labels
)

// series is one line of a chart: values at times.
type series struct {
	Name   string
	times  []time.Time
	values []float64
}

func (s *series) add(t time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	s.times, s.values = append(s.times, t), append(s.values, v)
}

// threshold is a horizontal line: an alert rule's factor, the objective.
type threshold struct {
	Label string
	Value float64
}

// chart is an SVG line chart, laid out here so the page draws it without
// script.
type chart struct {
	Width, Height         int
	Left, Right, Top, Bot float64
	Lines                 []line
	Thresholds            []thresholdLine
	// YMin and YMax label the y axis; From and To the x axis.
	YMin, YMax string
	From, To   time.Time
	// Points counts the points drawn, over all lines.
	Points int
}

// line is a series laid out: its polyline's points attribute.
type line struct {
	Name   string
	Class  string
	Points string
	Count  int
}

type thresholdLine struct {
	Label string
	Y     float64
}

// newChart lays series and thresholds out over [from, to]; withZero keeps
// 0 on the y axis (burn rates, budget).
func newChart(from, to time.Time, ss []series, ts []threshold, withZero bool) chart {
	lo, hi := math.Inf(1), math.Inf(-1)
	if withZero {
		lo, hi = 0, 0
	}
	for _, s := range ss {
		for _, v := range s.values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for _, t := range ts {
		lo, hi = math.Min(lo, t.Value), math.Max(hi, t.Value)
	}
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		lo, hi = 0, 1
	}
	if hi-lo < 1e-9 {
		hi = lo + 1
	}
	c := chart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartWidth - chartRight, Top: chartTop, Bot: chartHeight - chartBottom,
		YMin: formatValue(lo), YMax: formatValue(hi), From: from, To: to}
	span := float64(to.Sub(from))
	x := func(t time.Time) float64 {
		if span <= 0 {
			return c.Right
		}
		return c.Left + (c.Right-c.Left)*float64(t.Sub(from))/span
	}
	y := func(v float64) float64 { return c.Bot - (c.Bot-c.Top)*(v-lo)/(hi-lo) }
	for i, s := range ss {
		var b strings.Builder
		for j, v := range s.values {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(coord(x(s.times[j])) + "," + coord(y(v)))
		}
		c.Lines = append(c.Lines, line{Name: s.Name, Class: "s" + strconv.Itoa(i%8), Points: b.String(), Count: len(s.values)})
		c.Points += len(s.values)
	}
	for _, t := range ts {
		c.Thresholds = append(c.Thresholds, thresholdLine{Label: t.Label, Y: y(t.Value)})
	}
	return c
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// formatValue spells an axis bound: up to three significant digits.
func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// formatFactor spells a burn factor: 14.4×.
func formatFactor(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) + "×" }
