package hosts

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// StartLogged starts cmd with its output appended to logPath (after a start
// banner naming id). done is closed once the process has exited.
func StartLogged(cmd *exec.Cmd, logPath, id string) (done chan struct{}, err error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(lf, "==== jepsen: start %s at %s\n", id, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	done = make(chan struct{})
	go func() { _ = cmd.Wait(); lf.Close(); close(done) }()
	return done, nil
}

// KillWait sends SIGKILL to cmd (nil: nothing runs) and waits until done.
func KillWait(cmd *exec.Cmd, done <-chan struct{}, what string) error {
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not die", what)
	}
}
