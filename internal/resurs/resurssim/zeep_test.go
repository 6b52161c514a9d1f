package resurssim_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWSDLWithZeep has a standard third-party SOAP toolkit (python3-zeep,
// Debian's package) load the emulator's After Shop ?wsdl and its schemas
// with Basic auth in strict mode and call all 13 operations, checking each
// answer. Under CI a missing toolkit is a failure, not a skip.
func TestWSDLWithZeep(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import zeep, requests").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-zeep is missing (apt-get install python3-zeep): %v", err)
		}
		t.Skipf("python3-zeep is not installed here (apt-get install python3-zeep); CI installs it and runs this test: %v", err)
	}
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/zeep_check.py", e.srv.URL).CombinedOutput()
	t.Logf("zeep:\n%s", out)
	require.NoError(t, err, "the zeep check failed")
}
