// composecheck loads Compose files with compose-go, the loader Docker Compose itself uses:
// schema validation, ${VAR} interpolation from the environment (a missing required variable
// fails), merge keys and extension fields. It prints the names of the services it found.
// Built and run by `make infra-check` (tools/infra_check.py): there is no Docker engine here.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE...")
		os.Exit(2)
	}
	names, err := load(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(names, " "))
}

func load(files []string) ([]string, error) {
	options, err := cli.NewProjectOptions(files, cli.WithOsEnv, cli.WithInterpolation(true))
	if err != nil {
		return nil, err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	names := project.ServiceNames()
	sort.Strings(names)
	return names, nil
}
