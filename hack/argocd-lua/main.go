// Command argocd-harness runs Argo CD's own code for secretloom's tests, so
// what the tests assert is what an Argo CD v3.6.1 installation does, not what
// a re-implementation believes it does:
//
//	health                 live object (JSON, stdin) -> {"status","message"}
//	action NAME            live object (JSON, stdin) -> {"actions","patch"}
//	manifests REPO_ROOT    Application (YAML, stdin) -> {"sourceType","manifests"}
//
// health and action read the resource customizations from the argocd-cm of
// --namespace through Argo CD's settings manager (KUBECONFIG), exactly as the
// application controller and argocd-server do: a key that Argo CD would not
// parse, a ConfigMap it would not see (the part-of label) or a script that
// needs a library Argo CD does not open fails here as it would there. health
// is gitops-engine's GetResourceHealth with the argocd-cm overrides (what the
// controller's setApplicationHealth calls); action runs the discovery and the
// named action in the same Lua VM and prints the JSON merge patch
// argocd-server would send (RunResourceActionV2 and patchResource).
//
// manifests is the repo-server's GenerateManifests for the Application's
// source: source-type detection, plugin selection by name or by discovery
// over the sockets in ARGOCD_PLUGINSOCKFILEPATH, and the gRPC stream to the
// cmp-server, all Argo CD's code.
//
// Every failure is one line on stderr and exit status 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	jsonpatch "github.com/evanphx/json-patch"
	log "github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/reposerver/apiclient"
	"github.com/argoproj/argo-cd/v3/reposerver/repository"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
)

const usage = "usage: argocd-harness [--namespace NS] health | action NAME | manifests REPO_ROOT"

// Longer than a CMP command may run in the sidecar (ARGOCD_EXEC_TIMEOUT,
// 90s by default), so a slow render fails there, with Argo CD's message.
const timeout = 2 * time.Minute

func main() {
	log.SetLevel(log.WarnLevel)
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-harness: "+err.Error())
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	namespace := "argocd"
	if len(args) >= 2 && args[0] == "--namespace" {
		namespace, args = args[1], args[2:]
	}
	if len(args) == 0 {
		return errors.New(usage)
	}
	input, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var result any
	switch {
	case args[0] == "health" && len(args) == 1:
		result, err = resourceHealth(ctx, namespace, input)
	case args[0] == "action" && len(args) == 2:
		result, err = runAction(ctx, namespace, args[1], input)
	case args[0] == "manifests" && len(args) == 2:
		result, err = generateManifests(ctx, args[1], input)
	default:
		return errors.New(usage)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(result)
}

func resourceOverrides(ctx context.Context, namespace string) (map[string]v1alpha1.ResourceOverride, error) {
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{})
	config, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	overrides, err := settings.NewSettingsManager(ctx, clientset, namespace).GetResourceOverrides()
	if err != nil {
		return nil, fmt.Errorf("argocd-cm in %s: %w", namespace, err)
	}
	return overrides, nil
}

func liveObject(input []byte) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(input); err != nil {
		return nil, fmt.Errorf("object on stdin: %w", err)
	}
	return obj, nil
}

func resourceHealth(ctx context.Context, namespace string, input []byte) (*health.HealthStatus, error) {
	obj, err := liveObject(input)
	if err != nil {
		return nil, err
	}
	overrides, err := resourceOverrides(ctx, namespace)
	if err != nil {
		return nil, err
	}
	// nil (printed as null) means Argo CD has no health check for the kind.
	return health.GetResourceHealth(obj, lua.ResourceHealthOverrides(overrides))
}

type actionResult struct {
	Actions []v1alpha1.ResourceAction `json:"actions"`
	Patch   json.RawMessage           `json:"patch"`
}

func runAction(ctx context.Context, namespace, name string, input []byte) (*actionResult, error) {
	obj, err := liveObject(input)
	if err != nil {
		return nil, err
	}
	overrides, err := resourceOverrides(ctx, namespace)
	if err != nil {
		return nil, err
	}
	vm := lua.VM{ResourceOverrides: overrides}
	scripts, err := vm.GetResourceActionDiscovery(obj)
	if err != nil {
		return nil, fmt.Errorf("action discovery: %w", err)
	}
	actions, err := vm.ExecuteResourceActionDiscovery(obj, scripts)
	if err != nil {
		return nil, fmt.Errorf("action discovery: %w", err)
	}
	definition, err := vm.GetResourceAction(obj, name)
	if err != nil {
		return nil, fmt.Errorf("action %s: %w", name, err)
	}
	impacted, err := vm.ExecuteResourceAction(obj, definition.ActionLua, nil)
	if err != nil {
		return nil, fmt.Errorf("action %s: %w", name, err)
	}
	if len(impacted) != 1 || impacted[0].K8SOperation != lua.PatchOperation {
		return nil, fmt.Errorf("action %s: expected one patch of the object, got %d operations", name, len(impacted))
	}
	live, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	patched, err := json.Marshal(impacted[0].UnstructuredObj)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch.CreateMergePatch(live, patched)
	if err != nil {
		return nil, fmt.Errorf("action %s: merge patch: %w", name, err)
	}
	return &actionResult{Actions: actions, Patch: patch}, nil
}

type manifestsResult struct {
	SourceType string   `json:"sourceType"`
	Manifests  []string `json:"manifests"`
}

func generateManifests(ctx context.Context, repoRoot string, input []byte) (*manifestsResult, error) {
	var app v1alpha1.Application
	if err := yaml.UnmarshalStrict(input, &app); err != nil {
		return nil, fmt.Errorf("Application on stdin: %w", err)
	}
	source := app.Spec.GetSource()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return nil, err
	}
	request := &apiclient.ManifestRequest{
		Repo:              &v1alpha1.Repository{Repo: source.RepoURL},
		ApplicationSource: &source,
		AppName:           app.Name,
		Namespace:         app.Spec.Destination.Namespace,
		ProjectName:       app.Spec.Project,
		Revision:          source.TargetRevision,
	}
	response, err := repository.GenerateManifests(ctx, filepath.Join(root, source.Path), root,
		source.TargetRevision, request, false, nil, resource.MustParse("0"), nil)
	if err != nil {
		return nil, err
	}
	return &manifestsResult{SourceType: response.SourceType, Manifests: response.Manifests}, nil
}
