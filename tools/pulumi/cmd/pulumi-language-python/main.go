// Command pulumi-language-python is a small Python language host for the
// Pulumi CLI, built from the Go module proxy alone.
//
// Why it exists: upstream's language host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3). That
// module is not tagged and the Go module proxy reachable from this project's
// machines refuses every version of it ("This module version is not
// available"), so it cannot be built here. This host implements the part of
// the LanguageRuntime gRPC service that `pulumi preview/up/destroy/refresh`,
// `pulumi about` and `pulumi install` use, on top of the pieces that *are* in
// the sdk/v3 module: the generated gRPC stubs, the python/toolchain package
// (pip/uv/poetry and `virtualenv` handling) and the
// python/cmd/pulumi-language-python-exec shim, which must sit next to this
// binary (tools/build-pulumi.sh copies it there).
//
// RunPlugin runs a Python plugin directory (`python -u <dir> <args>`); the CLI
// uses it to start Python policy packs (`pulumi preview --policy-pack DIR`).
//
// Not implemented (answers Unimplemented): code generation (GenerateProgram,
// GenerateProject, GeneratePackage), Pack, Link, Template, and the
// `typechecker` runtime option.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/blang/semver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

const (
	execShimName = "pulumi-language-python-exec"

	// Exit code the exec shim uses after it has already shown the user an
	// actionable error; the engine then bails without printing another one.
	exitCodeUserActionable = 32
)

func main() {
	var tracing, root, virtualenv, givenExecutor string
	// -v and -logtostderr are registered by glog (imported by the logging package).
	flag.StringVar(&tracing, "tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	flag.StringVar(&root, "root", "", "Project root path (legacy flag; the engine now sends it per request)")
	flag.StringVar(&virtualenv, "virtualenv", "", "Virtual environment path (legacy flag; use runtime options)")
	flag.StringVar(&givenExecutor, "use-executor", "", "Use this program instead of the exec shim beside this binary")
	flag.Parse()

	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-python", "pulumi-language-python", tracing)

	shim := givenExecutor
	if shim == "" {
		self, err := os.Executable()
		if err != nil {
			cmdutil.Exit(fmt.Errorf("could not determine current executable: %w", err))
		}
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		shim = filepath.Join(filepath.Dir(self), execShimName)
	}
	if _, err := os.Stat(shim); err != nil {
		cmdutil.Exit(fmt.Errorf("missing executor %s: %w", shim, err))
	}

	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}

	host := &languageHost{
		shim:          shim,
		engineAddress: engineAddress,
		tracing:       tracing,
		root:          root,
		virtualenv:    virtualenv,
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}

	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	shim          string
	engineAddress string
	tracing       string
	// Fallbacks from the legacy command-line flags.
	root       string
	virtualenv string

	mu      sync.Mutex
	running map[*exec.Cmd]struct{}
}

// options are the Pulumi.yaml `runtime.options` this host understands.
type options struct {
	virtualenv  string
	toolchain   string
	typechecker string
}

func parseOptions(info *pulumirpc.ProgramInfo) (options, error) {
	var o options
	if info == nil || info.GetOptions() == nil {
		return o, nil
	}
	for k, v := range info.GetOptions().AsMap() {
		s, ok := v.(string)
		if !ok {
			continue
		}
		switch k {
		case "virtualenv":
			o.virtualenv = s
		case "toolchain":
			o.toolchain = s
		case "typechecker":
			o.typechecker = s
		}
	}
	return o, nil
}

// resolveToolchain maps the program's runtime options onto sdk/v3's python toolchain.
func (h *languageHost) resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts, err := parseOptions(info)
	if err != nil {
		return nil, err
	}
	if opts.virtualenv == "" {
		opts.virtualenv = h.virtualenv
	}
	root, programDir := h.root, h.root
	if info != nil {
		if info.GetRootDirectory() != "" {
			root = info.GetRootDirectory()
		}
		programDir = root
		if info.GetProgramDirectory() != "" {
			programDir = info.GetProgramDirectory()
		}
	}
	if root == "" {
		if wd, err := os.Getwd(); err == nil {
			root, programDir = wd, wd
		}
	}
	tc := toolchain.Auto
	switch strings.ToLower(opts.toolchain) {
	case "":
		// With an explicit virtualenv the upstream host uses pip.
		if opts.virtualenv != "" {
			tc = toolchain.Pip
		}
	case "pip":
		tc = toolchain.Pip
	case "poetry":
		tc = toolchain.Poetry
	case "uv":
		tc = toolchain.Uv
	default:
		return nil, fmt.Errorf("unsupported python toolchain %q", opts.toolchain)
	}
	return toolchain.ResolveToolchain(toolchain.PythonOptions{
		Root:       root,
		ProgramDir: programDir,
		Virtualenv: opts.virtualenv,
		Toolchain:  tc,
	})
}

func (h *languageHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	if req.RootDirectory != nil && *req.RootDirectory != "" {
		h.root = *req.RootDirectory
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// pluginPackage is one installed Python distribution that ships a pulumi-plugin.json.
type pluginPackage struct {
	Package string          `json:"package"`
	Version string          `json:"version"`
	Plugin  json.RawMessage `json:"plugin"`
}

type pulumiPluginJSON struct {
	Resource         bool   `json:"resource"`
	Name             string `json:"name"`
	Version          string `json:"version"`
	Server           string `json:"server"`
	Parameterization *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Value   []byte `json:"value"`
	} `json:"parameterization"`
}

// listPluginPackagesScript prints, as JSON, every installed distribution that
// carries a pulumi-plugin.json file (how Pulumi provider SDKs name their plugin).
const listPluginPackagesScript = `
import json, importlib.metadata as md
out = []
for d in md.distributions():
    for f in (d.files or []):
        if f.name == "pulumi-plugin.json":
            try:
                data = json.loads(f.read_text())
            except Exception:
                continue
            out.append({"package": d.metadata.get("Name") or "", "version": d.version, "plugin": data})
            break
print(json.dumps(out))
`

func (h *languageHost) requiredPackages(
	ctx context.Context, info *pulumirpc.ProgramInfo,
) ([]*pulumirpc.PackageDependency, error) {
	tc, err := h.resolveToolchain(info)
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", listPluginPackagesScript)
	if err != nil {
		return nil, err
	}
	if info != nil && info.GetProgramDirectory() != "" {
		cmd.Dir = info.GetProgramDirectory()
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("listing installed Pulumi packages failed: %w: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("listing installed Pulumi packages failed: %w", err)
	}
	var pkgs []pluginPackage
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("parsing installed Pulumi packages: %w", err)
	}
	var deps []*pulumirpc.PackageDependency
	for _, p := range pkgs {
		var pj pulumiPluginJSON
		if err := json.Unmarshal(p.Plugin, &pj); err != nil || !pj.Resource {
			continue
		}
		name := pj.Name
		if name == "" {
			name = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(p.Package), "pulumi-"), "pulumi_")
		}
		v := pj.Version
		if v == "" {
			sv, err := semver.ParseTolerant(p.Version)
			if err != nil {
				logging.V(5).Infof("skipping %s: cannot derive a plugin version from %q", p.Package, p.Version)
				continue
			}
			v = sv.String()
		}
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		dep := &pulumirpc.PackageDependency{Kind: "resource", Name: name, Version: v, Server: pj.Server}
		if pz := pj.Parameterization; pz != nil {
			dep.Parameterization = &pulumirpc.PackageParameterization{
				Name: pz.Name, Version: pz.Version, Value: pz.Value,
			}
		}
		deps = append(deps, dep)
	}
	return deps, nil
}

func (h *languageHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *languageHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	var plugins []*pulumirpc.PluginDependency
	for _, d := range deps {
		if d.Parameterization != nil {
			continue
		}
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Kind: d.Kind, Name: d.Name, Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return nil, status.Error(codes.Unimplemented, "this pulumi-language-python does not support --attach-debugger")
	}
	opts, err := parseOptions(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if opts.typechecker != "" {
		return nil, fmt.Errorf("runtime option typechecker=%q is not supported by this pulumi-language-python "+
			"(tools/pulumi/cmd/pulumi-language-python); run the type checker separately", opts.typechecker)
	}
	tc, err := h.resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	program := req.GetProgram()
	if info := req.GetInfo(); info != nil && info.GetEntryPoint() != "" {
		program = info.GetEntryPoint()
	}
	if program == "" {
		program = "."
	}

	args := []string{"-u", h.shim}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())
	if info := req.GetInfo(); info != nil {
		add("root_directory", info.GetRootDirectory())
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, fmt.Errorf("serializing configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret configuration keys: %w", err)
	}

	// The program must outlive a cancelled RPC context only until the engine
	// asks us to stop, so it is not bound to ctx; Cancel kills it instead.
	cmd, err := tc.Command(context.Background(), args...)
	if err != nil {
		return nil, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env,
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON),
	)
	cmd.Dir = req.GetPwd()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	logging.V(5).Infof("language host launching: %s %s", cmd.Path, strings.Join(args, " "))

	if err := cmd.Start(); err != nil {
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
		}, nil
	}
	h.track(cmd, true)
	err = cmd.Wait()
	h.track(cmd, false)

	if err == nil {
		return &pulumirpc.RunResponse{}, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code == exitCodeUserActionable {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		if code >= 0 {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("problem executing program: %v", err)}, nil
}

func (h *languageHost) track(cmd *exec.Cmd, add bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == nil {
		h.running = map[*exec.Cmd]struct{}{}
	}
	if add {
		h.running[cmd] = struct{}{}
	} else {
		delete(h.running, cmd)
	}
}

func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cmd := range h.running {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
	return &emptypb.Empty{}, nil
}

func (h *languageHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := h.resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata:   map[string]string{"toolchainVersion": info.ToolchainVersion.String()},
	}, nil
}

func (h *languageHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := h.resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// streamWriter forwards install output to the engine as InstallDependenciesResponse messages.
type streamWriter struct {
	mu     *sync.Mutex
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := append([]byte(nil), p...)
	resp := &pulumirpc.InstallDependenciesResponse{Stdout: b}
	if w.stderr {
		resp = &pulumirpc.InstallDependenciesResponse{Stderr: b}
	}
	if err := w.server.Send(resp); err != nil {
		return 0, err
	}
	return len(p), nil
}

var _ io.Writer = streamWriter{}

func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	ctx := server.Context()
	tc, err := h.resolveToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	dir := req.GetDirectory()
	if info := req.GetInfo(); info != nil && info.GetProgramDirectory() != "" {
		dir = info.GetProgramDirectory()
	}
	var mu sync.Mutex
	stdout := streamWriter{mu: &mu, server: server}
	stderr := streamWriter{mu: &mu, server: server, stderr: true}
	// InstallDependencies creates the virtual environment first when needed.
	return tc.InstallDependencies(ctx, dir, req.GetUseLanguageVersionTools(), true, stdout, stderr)
}

// pluginStream forwards a plugin's stdout or stderr to the engine as RunPluginResponse messages.
type pluginStream struct {
	mu     *sync.Mutex
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
	stderr bool
}

func (w pluginStream) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := append([]byte(nil), p...)
	resp := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	if w.stderr {
		resp = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	}
	if err := w.server.Send(resp); err != nil {
		return 0, err
	}
	return len(p), nil
}

// pluginEnv is the engine's environment for the plugin, with the virtualenv's
// PATH and VIRTUAL_ENV (set by the toolchain on `activated`) kept on top.
func pluginEnv(engineEnv, activated []string) []string {
	if len(engineEnv) == 0 {
		return activated
	}
	env := append([]string(nil), engineEnv...)
	for _, kv := range activated {
		key, _, _ := strings.Cut(kv, "=")
		if strings.EqualFold(key, "PATH") || key == "VIRTUAL_ENV" {
			env = append(env, kv) // exec keeps the last value of a duplicated key
		}
	}
	return env
}

// RunPlugin runs a Python plugin, such as a pulumi-policy pack, as `python -u <program dir> <args>`:
// the directory's __main__.py prints the port of its gRPC server on stdout, which reaches the engine
// through this stream. The program directory's runtime options (virtualenv, toolchain) choose Python.
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	if req.GetAttachDebugger() {
		return status.Error(codes.Unimplemented, "this pulumi-language-python does not support --attach-debugger")
	}
	info := req.GetInfo()
	if info == nil || info.GetProgramDirectory() == "" {
		return status.Error(codes.InvalidArgument, "RunPlugin needs program info with a program directory")
	}
	ctx := server.Context()
	tc, err := h.resolveToolchain(info)
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return err
	}
	entry := info.GetProgramDirectory()
	if ep := info.GetEntryPoint(); ep != "" && ep != "." {
		entry = filepath.Join(entry, ep)
	}
	// Bound to the stream: when the engine closes the plugin, the process is killed.
	cmd, err := tc.Command(ctx, append([]string{"-u", entry}, req.GetArgs()...)...)
	if err != nil {
		return err
	}
	cmd.Env = pluginEnv(req.GetEnv(), cmd.Env)
	cmd.Dir = req.GetPwd()
	var mu sync.Mutex
	cmd.Stdout = pluginStream{mu: &mu, server: server}
	cmd.Stderr = pluginStream{mu: &mu, server: server, stderr: true}
	logging.V(5).Infof("language host running %s plugin: %s %v", req.GetKind(), cmd.Path, cmd.Args[1:])

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("running plugin %s: %w", entry, err)
		}
		code = int32(ee.ExitCode())
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}
