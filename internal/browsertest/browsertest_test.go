package browsertest

import (
	"image"
	"image/color"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConsoleMessages(t *testing.T) {
	stderr := []byte(`[1:1:1125/105740.718145:INFO:CONSOLE:1] "boom", source: file:///tmp/x.html (1)
[1:2:1125/105740.5:ERROR:dbus/bus.cc:405] Failed to connect to the bus
[1:1:1125/105740.7:INFO:CONSOLE(12)] "old style", source: http://127.0.0.1:1/r.html (12)
`)
	want := []string{"boom (source: file:///tmp/x.html (1))", "old style (source: http://127.0.0.1:1/r.html (12))"}
	if diff := cmp.Diff(want, ConsoleMessages(stderr)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := ConsoleMessages([]byte("[1:2:3:ERROR:dbus/bus.cc:405] Failed\n" + strconv.Quote("x"))); len(got) != 0 {
		t.Errorf("non-console lines read as console messages: %q", got)
	}
}

func TestColours(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 70, 70))
	if n := Colours(img, 64); n != 1 {
		t.Errorf("blank image: %d colours, want 1", n)
	}
	for x := 0; x < 70; x++ {
		for y := 0; y < 70; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 3), uint8(y * 3), 0, 255})
		}
	}
	if n := Colours(img, 64); n != 64 {
		t.Errorf("gradient: %d colours, want the limit 64", n)
	}
}
