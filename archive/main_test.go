package archive

import (
	"os"
	"testing"

	"github.com/prism/controlplane/internal/leakcheck"
	"github.com/prism/controlplane/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Check(testpg.Main(m))) }
