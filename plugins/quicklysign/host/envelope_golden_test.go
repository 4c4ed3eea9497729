package host_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/runtime/runtimetest"
)

// checkEnvelopeGolden has plugins/quicklysign/testdata/check_envelope.py, Python written from
// QuicklySign's subscription document alone, check a golden answer as it is on disk, so that
// -update cannot pin an answer the document does not allow. The file's name says what kind of
// answer it is (subscription_*, webhook_*, list_v0*, list_v1*, callbacks*, error*); entityKey, when
// not empty, is the entity_key a list was asked for. The script's doc says what is checked.
func checkEnvelopeGolden(t *testing.T, golden, entityKey string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to check the golden answers independently: %v", err)
	}
	args := []string{filepath.Join(runtimetest.RepoRoot(t), "plugins", "quicklysign", "testdata", "check_envelope.py")}
	if entityKey != "" {
		args = append(args, "--entity-key", entityKey)
	}
	abs, err := filepath.Abs(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(python, append(args, abs)...).CombinedOutput(); err != nil {
		t.Errorf("check_envelope.py refuses %s: %v\n%s", golden, err, out)
	}
}
