// Command kube runs one upstream Kubernetes component per process, chosen by its first argument,
// so a single cached binary stands in for kube-apiserver, kube-controller-manager, kube-scheduler,
// kubelet, kube-proxy and etcd.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	_ "time/tzdata" // CronJob time zones, as in the upstream apiserver and controller-manager.

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream.
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream.
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream.
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// components maps the first argument to the upstream command it runs.
var components = map[string]func() *cobra.Command{
	"apiserver":          apiserver.NewAPIServerCommand,
	"controller-manager": controllermanager.NewControllerManagerCommand,
	"scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":            func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"proxy":              proxy.NewProxyCommand,
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	if name == "etcd" {
		os.Exit(runEtcd(args))
	}
	newCommand, ok := components[name]
	if !ok {
		usage()
		os.Exit(2)
	}
	// The upstream commands read os.Args through cobra; drop the dispatch word so their
	// flag parsing sees exactly what their own binary would.
	os.Args = append([]string{"kube-" + name}, args...)
	command := newCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}

func usage() {
	names := []string{"etcd"}
	for name := range components {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube <%s> [flags]\n", joinNames(names))
}

func joinNames(names []string) string {
	out := ""
	for i, name := range names {
		if i > 0 {
			out += "|"
		}
		out += name
	}
	return out
}
