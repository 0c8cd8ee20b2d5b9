// Command netpol runs SIG Network's kube-network-policies controller (nftables + nfqueue) as a host
// process of the local cluster. Upstream's command only knows in-cluster config; this one takes a
// kubeconfig, the node name, its nftables table and its queue. The controller judges every packet on
// its queue against all pods' policies, whichever rules queued it (ci/cluster/netpolicy.py).
//
// NRI stays enabled although the nodes' containerd 1.6 serves no NRI socket (the plugin logs that it
// exited and finds nothing): v0.8.0 asks its NRI plugin about every address that is no known pod
// (the host, for one) even with NRI disabled, and with it disabled that plugin is nil and the
// process panics on the first such packet.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func main() {
	os.Exit(run())
}

func run() int {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the controller's identity")
	nodeName := flag.String("node-name", "", "the node whose pods this instance enforces policies for")
	table := flag.String("nftables-table", "", "nftables table of this instance (inet family)")
	queueID := flag.Int("nfqueue-id", 100, "nfqueue number of this instance")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" || *nodeName == "" || *table == "" {
		fmt.Fprintln(os.Stderr, "--kubeconfig, --node-name and --nftables-table are required")
		return 2
	}

	ctx, cancel := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer cancel()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.ErrorS(err, "reading kubeconfig")
		return 1
	}
	config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	config.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.ErrorS(err, "creating client")
		return 1
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	controller, err := networkpolicy.NewController(
		client,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil,
		networkpolicy.Config{
			QueueID:             *queueID,
			NodeName:            *nodeName,
			NFTableName:         *table,
			NetfilterBug1766Fix: false, // every new connection is queued already, DNS included
		},
	)
	if err != nil {
		klog.ErrorS(err, "creating the network policy controller")
		return 1
	}
	factory.Start(ctx.Done())
	// Run returns when ctx is cancelled, after removing its nftables table.
	if err := controller.Run(ctx); err != nil && ctx.Err() == nil {
		klog.ErrorS(err, "network policy controller stopped")
		return 1
	}
	return 0
}
