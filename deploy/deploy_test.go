package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	baseDir    = "kubernetes/base"
	haDir      = "kubernetes/overlays/ha"
	secretPath = "kubernetes/base/secret.example.yaml"
)

// kustomization is the subset of kustomize's file that the manifests use.
// Decoding is strict: a field outside this subset fails the test instead
// of being ignored by the emulation below.
type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Resources  []string `yaml:"resources"`
	Patches    []struct {
		Path string `yaml:"path"`
	} `yaml:"patches"`
	ConfigMapGenerator []struct {
		Name    string   `yaml:"name"`
		Files   []string `yaml:"files"`
		Options struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"options"`
	} `yaml:"configMapGenerator"`
}

type object = map[string]any

// kustomizeBuild emulates `kubectl kustomize dir` for the features the
// manifests use: resources (files and other kustomizations),
// configMapGenerator from files, and strategic-merge patches matched by kind
// and name. Generated names get no content hash.
func kustomizeBuild(dir string) ([]object, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("%s/kustomization.yaml: apiVersion %q kind %q", dir, k.APIVersion, k.Kind)
	}
	var objs []object
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		if info, err := os.Stat(path); err == nil && info.IsDir() {
			sub, err := kustomizeBuild(path)
			if err != nil {
				return nil, err
			}
			objs = append(objs, sub...)
			continue
		}
		docs, err := loadDocuments(path)
		if err != nil {
			return nil, err
		}
		objs = append(objs, docs...)
	}
	for _, g := range k.ConfigMapGenerator {
		files := map[string]any{}
		for _, f := range g.Files {
			key, src, ok := strings.Cut(f, "=")
			if !ok {
				key, src = filepath.Base(f), f
			}
			content, err := os.ReadFile(filepath.Join(dir, src))
			if err != nil {
				return nil, err
			}
			files[key] = string(content)
		}
		meta := object{"name": g.Name}
		if len(g.Options.Labels) > 0 {
			labels := object{}
			for k, v := range g.Options.Labels {
				labels[k] = v
			}
			meta["labels"] = labels
		}
		objs = append(objs, object{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": files})
	}
	for _, p := range k.Patches {
		patches, err := loadDocuments(filepath.Join(dir, p.Path))
		if err != nil {
			return nil, err
		}
		for _, patch := range patches {
			i := slices.IndexFunc(objs, func(o object) bool {
				return o["kind"] == patch["kind"] && name(o) == name(patch)
			})
			if i < 0 {
				return nil, fmt.Errorf("%s: patch %s: no %v %q to patch", dir, p.Path, patch["kind"], name(patch))
			}
			objs[i] = strategicMerge(objs[i], patch).(object)
		}
	}
	return objs, nil
}

// loadDocuments parses every YAML document of a file.
func loadDocuments(path string) ([]object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseDocuments(path, data)
}

func parseDocuments(source string, data []byte) ([]object, error) {
	var docs []object
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc object
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", source, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// strategicMerge applies a patch the way kustomize does for the shapes the
// manifests use: maps merge key by key, lists of objects with a `name`
// merge by name, any other value is replaced.
func strategicMerge(base, patch any) any {
	switch p := patch.(type) {
	case object:
		b, ok := base.(object)
		if !ok {
			return p
		}
		out := object{}
		for k, v := range b {
			out[k] = v
		}
		for k, v := range p {
			out[k] = strategicMerge(b[k], v)
		}
		return out
	case []any:
		b, ok := base.([]any)
		if !ok || !allNamed(b) || !allNamed(p) {
			return p
		}
		out := slices.Clone(b)
		for _, item := range p {
			i := slices.IndexFunc(out, func(o any) bool { return o.(object)["name"] == item.(object)["name"] })
			if i < 0 {
				out = append(out, item)
			} else {
				out[i] = strategicMerge(out[i], item)
			}
		}
		return out
	default:
		return patch
	}
}

func allNamed(list []any) bool {
	for _, item := range list {
		o, ok := item.(object)
		if !ok || o["name"] == nil {
			return false
		}
	}
	return len(list) > 0
}

func name(o object) string {
	meta, _ := o["metadata"].(object)
	s, _ := meta["name"].(string)
	return s
}

// decodeInto converts a generic document into a typed view of it.
func decodeInto(t *testing.T, o object, into any) {
	t.Helper()
	data, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%v %s: %v", o["kind"], name(o), err)
	}
}

// Typed views of the resources, only the fields the checks read.
type (
	meta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	httpProbe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe  *httpProbe `yaml:"livenessProbe"`
		ReadinessProbe *httpProbe `yaml:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext *struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
		} `yaml:"volumeMounts"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		EmptyDir              any `yaml:"emptyDir"`
		PersistentVolumeClaim any `yaml:"persistentVolumeClaim"`
	}
	labelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	deployment struct {
		Metadata meta `yaml:"metadata"`
		Spec     struct {
			Replicas *int          `yaml:"replicas"`
			Selector labelSelector `yaml:"selector"`
			Template struct {
				Metadata meta `yaml:"metadata"`
				Spec     struct {
					SecurityContext struct {
						RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
						RunAsUser      *int  `yaml:"runAsUser"`
						SeccompProfile struct {
							Type string `yaml:"type"`
						} `yaml:"seccompProfile"`
					} `yaml:"securityContext"`
					Affinity struct {
						PodAntiAffinity struct {
							Required []struct {
								TopologyKey   string        `yaml:"topologyKey"`
								LabelSelector labelSelector `yaml:"labelSelector"`
							} `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
						} `yaml:"podAntiAffinity"`
					} `yaml:"affinity"`
					Containers []container `yaml:"containers"`
					Volumes    []volume    `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	service struct {
		Metadata meta `yaml:"metadata"`
		Spec     struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort any    `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	serviceMonitor struct {
		Metadata meta `yaml:"metadata"`
		Spec     struct {
			Selector  labelSelector `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	podDisruptionBudget struct {
		Spec struct {
			MinAvailable any           `yaml:"minAvailable"`
			Selector     labelSelector `yaml:"selector"`
		} `yaml:"spec"`
	}
)

// show prints an optional field: its value, or "unset".
func show[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// selects reports whether every label of the selector is among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false // an empty selector selects everything: never intended here
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func one[T any](t *testing.T, objs []object, kind string) T {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o["kind"] == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, found %d", kind, len(found))
	}
	var v T
	decodeInto(t, found[0], &v)
	return v
}

// checkManifests checks a built set of resources, from the emulation or
// from kubectl, for a deployment of the given number of replicas.
func checkManifests(t *testing.T, objs []object, replicas int) {
	t.Helper()
	kinds := map[string]bool{}
	for _, o := range objs {
		for _, field := range []string{"apiVersion", "kind"} {
			if s, _ := o[field].(string); s == "" {
				t.Errorf("a resource has no %s: %v", field, o)
			}
		}
		if name(o) == "" {
			t.Errorf("a %v has no metadata.name", o["kind"])
		}
		kinds[fmt.Sprint(o["kind"])] = true
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "ServiceMonitor", "PrometheusRule"} {
		if !kinds[k] {
			t.Errorf("no %s", k)
		}
	}
	if t.Failed() {
		return
	}

	d := one[deployment](t, objs, "Deployment")
	podLabels := d.Spec.Template.Metadata.Labels
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		t.Errorf("Deployment replicas %s, want %d", show(d.Spec.Replicas), replicas)
	}
	if !selects(d.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("Deployment selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, podLabels)
	}
	pod := d.Spec.Template.Spec
	if sc := pod.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod securityContext: runAsNonRoot %s, runAsUser %s, seccompProfile %q; want true, 65532, RuntimeDefault",
			show(sc.RunAsNonRoot), show(sc.RunAsUser), sc.SeccompProfile.Type)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil {
		t.Error("container has no securityContext")
	} else if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext: allowPrivilegeEscalation %s, readOnlyRootFilesystem %s, capabilities.drop %q; want false, true, [ALL]",
			show(sc.AllowPrivilegeEscalation), show(sc.ReadOnlyRootFilesystem), sc.Capabilities.Drop)
	}
	for _, arg := range []string{"--config=/etc/warren/warren.yml", "--storage.path=/var/lib/warren"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("container args %q lack %s", c.Args, arg)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http-metrics" || c.Ports[0].ContainerPort != 9842 {
		t.Errorf("container ports %+v: want http-metrics 9842", c.Ports)
	}
	for probe, want := range map[*httpProbe]string{c.LivenessProbe: "/-/healthy", c.ReadinessProbe: "/-/ready"} {
		if probe == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port != "http-metrics" {
			t.Errorf("probe %+v: want GET %s on http-metrics", probe, want)
		}
	}
	wantResources := map[string]string{"requests.cpu": "100m", "requests.memory": "128Mi", "limits.cpu": "1", "limits.memory": "512Mi"}
	for key, want := range wantResources {
		kind, res, _ := strings.Cut(key, ".")
		got := c.Resources.Requests[res]
		if kind == "limits" {
			got = c.Resources.Limits[res]
		}
		if got != want {
			t.Errorf("resources.%s = %q, want %q", key, got, want)
		}
	}

	// Mounts: the config file from a ConfigMap of this build, the Secret
	// as files under /etc/warren/secrets, state under /var/lib/warren.
	volumes := map[string]int{}
	for i, v := range pod.Volumes {
		volumes[v.Name] = i
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		i, ok := volumes[m.Name]
		if !ok {
			t.Errorf("volumeMount %s names no volume", m.Name)
			continue
		}
		v := pod.Volumes[i]
		switch {
		case v.ConfigMap != nil:
			mounts["config"] = m.MountPath
			if !slices.ContainsFunc(objs, func(o object) bool { return o["kind"] == "ConfigMap" && name(o) == v.ConfigMap.Name }) {
				t.Errorf("volume %s: ConfigMap %q is not in the build", v.Name, v.ConfigMap.Name)
			}
		case v.Secret != nil:
			mounts["secret"] = m.MountPath
		case v.EmptyDir != nil || v.PersistentVolumeClaim != nil:
			mounts["state"] = m.MountPath
		}
	}
	for what, want := range map[string]string{"config": "/etc/warren/warren.yml", "secret": "/etc/warren/secrets", "state": "/var/lib/warren"} {
		if mounts[what] != want {
			t.Errorf("%s mounted at %q, want %q", what, mounts[what], want)
		}
	}

	svc := one[service](t, objs, "Service")
	if !selects(svc.Spec.Selector, podLabels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http-metrics" || svc.Spec.Ports[0].Port != 9842 || svc.Spec.Ports[0].TargetPort != "http-metrics" {
		t.Errorf("Service ports %+v: want http-metrics 9842 → http-metrics", svc.Spec.Ports)
	}

	sm := one[serviceMonitor](t, objs, "ServiceMonitor")
	if !selects(sm.Spec.Selector.MatchLabels, svc.Metadata.Labels) {
		t.Errorf("ServiceMonitor selects %v, the Service is labelled %v", sm.Spec.Selector.MatchLabels, svc.Metadata.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v: want port %s, path /metrics", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	// WarrenAbsent looks for job="warren"; the operator names the job
	// after the Service.
	if svc.Metadata.Name != "warren" {
		t.Errorf("Service %q: the scrape job would not be warren", svc.Metadata.Name)
	}

	if replicas > 1 {
		anti := pod.Affinity.PodAntiAffinity.Required
		if len(anti) != 1 || anti[0].TopologyKey != "kubernetes.io/hostname" || !selects(anti[0].LabelSelector.MatchLabels, podLabels) {
			t.Errorf("pod anti-affinity %+v: want the pods kept on different nodes", anti)
		}
		pdb := one[podDisruptionBudget](t, objs, "PodDisruptionBudget")
		if !selects(pdb.Spec.Selector.MatchLabels, podLabels) || pdb.Spec.MinAvailable != 1 {
			t.Errorf("PodDisruptionBudget %+v: want minAvailable 1 of the warren pods", pdb.Spec)
		}
	}
}

func TestKubernetesBaseIsAHardenedSingleReplica(t *testing.T) {
	objs, err := kustomizeBuild(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	checkManifests(t, objs, 1)
}

func TestKubernetesHAOverlayRunsTwoReplicasOnDifferentNodes(t *testing.T) {
	objs, err := kustomizeBuild(haDir)
	if err != nil {
		t.Fatal(err)
	}
	checkManifests(t, objs, 2)
}

// The real kustomize, where installed, must agree with the emulation.
func TestKubectlKustomizeBuildsBaseAndOverlay(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not on PATH: the emulated build (the tests above) is all that is checked")
		return
	}
	for dir, replicas := range map[string]int{baseDir: 1, haDir: 2} {
		t.Run(dir, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(kubectl, "kustomize", dir)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
			}
			objs, err := parseDocuments("kubectl kustomize "+dir, out)
			if err != nil {
				t.Fatal(err)
			}
			checkManifests(t, objs, replicas)
		})
	}
}

// The configuration in the ConfigMap names its passwords as files of the
// Secret; the example Secret has exactly those keys, with placeholders.
func TestKubernetesConfigReadsEveryPasswordFromTheSecret(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join(baseDir, "warren.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files := passwordFiles(t, cfg)
	if len(files) == 0 {
		t.Fatal("warren.yml names no password_file")
	}
	secrets, err := loadDocuments(secretPath)
	if err != nil {
		t.Fatal(err)
	}
	var secret struct {
		Kind       string            `yaml:"kind"`
		Metadata   meta              `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
	}
	if len(secrets) != 1 {
		t.Fatalf("%s: want one document", secretPath)
	}
	decodeInto(t, secrets[0], &secret)
	deploymentDocs, err := loadDocuments(filepath.Join(baseDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := one[deployment](t, deploymentDocs, "Deployment")
	if !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v volume) bool {
		return v.Secret != nil && v.Secret.SecretName == secret.Metadata.Name
	}) {
		t.Errorf("the Deployment mounts no Secret named %q", secret.Metadata.Name)
	}
	var keys []string
	for _, f := range files {
		dir, key := filepath.Split(f)
		if dir != "/etc/warren/secrets/" {
			t.Errorf("password_file %s is not in the Secret's mount /etc/warren/secrets", f)
		}
		keys = append(keys, key)
	}
	for _, key := range keys {
		if v, ok := secret.StringData[key]; !ok {
			t.Errorf("%s has no key %s", secretPath, key)
		} else if !strings.Contains(v, "CHANGE-ME") {
			t.Errorf("%s: %s = %q does not look like a placeholder", secretPath, key, v)
		}
	}
	if len(secret.StringData) != len(keys) {
		t.Errorf("%s has keys %v, warren.yml reads %v", secretPath, secret.StringData, keys)
	}
}

// passwordFiles returns every password_file value of a warren
// configuration, wherever it appears.
func passwordFiles(t *testing.T, cfg []byte) []string {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	var files []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "password_file" {
					files = append(files, n.Content[i+1].Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return files
}
