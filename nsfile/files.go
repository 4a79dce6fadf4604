package nsfile

import (
	"fmt"
	"strings"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// File is one input of ParseFiles: its name (as the user gave it, for
// messages) and its bytes.
type File struct {
	Name string
	Data []byte
}

// Doc is one namespace read by ParseFiles, with the file it came from.
type Doc struct {
	File string
	Spec *fsmpb.NamespaceSpec
}

// FileProblem is one problem of one file; Path and Line are as Parse
// reports them for that file alone.
type FileProblem struct {
	File string
	fsm.FieldError
}

func (p FileProblem) String() string { return p.File + ": " + p.FieldError.String() }

// FilesError lists every problem of every file given to ParseFiles, in file
// order; it matches fsm.ErrInvalid.
type FilesError struct {
	Problems []FileProblem
}

func (e *FilesError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("%v: %d problem(s): %s", fsm.ErrInvalid, len(e.Problems), strings.Join(parts, "; "))
}

func (e *FilesError) Is(target error) bool { return target == fsm.ErrInvalid }

// ParseFiles parses every file as Parse does and returns their namespaces
// in order, or, when any file has a problem, a *FilesError with every
// problem of every file. A namespace defined in two files is a problem of
// the later one.
func ParseFiles(files []File) ([]Doc, error) {
	var docs []Doc
	var problems []FileProblem
	firstFile := map[string]string{}
	for _, f := range files {
		parsed, err := parseDocs(f.Data)
		if err != nil {
			ve, ok := err.(*fsm.ValidationError)
			if !ok {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			for _, fe := range ve.Fields {
				problems = append(problems, FileProblem{File: f.Name, FieldError: fe})
			}
			continue
		}
		for _, d := range parsed {
			name := d.spec.GetName()
			if other, dup := firstFile[name]; dup {
				problems = append(problems, FileProblem{File: f.Name, FieldError: fsm.FieldError{
					Path: d.namePath, Line: d.nameLine, Message: fmt.Sprintf("namespace %q is also defined in %s", name, other)}})
				continue
			}
			firstFile[name] = f.Name
			docs = append(docs, Doc{File: f.Name, Spec: d.spec})
		}
	}
	if len(problems) > 0 {
		return nil, &FilesError{Problems: problems}
	}
	return docs, nil
}
