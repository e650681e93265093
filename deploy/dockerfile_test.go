package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// No container engine runs here, so the Dockerfile cannot be built; this
// keeps the parts that drift in step with the repository: the Go version of
// go.mod, the version package of the Makefile's ldflags, the port, the user
// and the entrypoint.
func TestDockerfileBuildsAStaticNonRootImageWithTheModuleGoVersion(t *testing.T) {
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	versionPkg := regexp.MustCompile(`(?m)^VERSION_PKG\s*:=\s*(\S+)`).FindSubmatch(makefile)
	if versionPkg == nil {
		t.Fatal("Makefile has no VERSION_PKG")
	}
	d := string(dockerfile)
	for _, want := range []string{
		"FROM golang:" + string(goVersion[1]) + " AS build",
		"CGO_ENABLED=0 go build -trimpath",
		"-X " + string(versionPkg[1]) + ".Version=${VERSION}",
		"-X " + string(versionPkg[1]) + ".Revision=${REVISION}",
		"-X " + string(versionPkg[1]) + ".Branch=${BRANCH}",
		"-X " + string(versionPkg[1]) + ".BuildDate=",
		"./cmd/warren",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"COPY --from=build /out/warren /warren",
		"EXPOSE 9842",
		"USER 65532",
		`ENTRYPOINT ["/warren"]`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
