//! The deployment files: the Dockerfile (syntax, stages, a final image
//! without the toolchain), the compose file, the Kubernetes manifests and
//! the systemd unit, read and checked for what running mediafwd needs. No
//! container engine or systemd is involved.

use std::collections::BTreeMap;

use mediafwd_controlplane::config::{expand_env, Config};
use serde::Deserialize;
use serde_yaml::Value;

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

// ---------------------------------------------------------------- Dockerfile

const INSTRUCTIONS: [&str; 18] = [
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "MAINTAINER",
];

#[derive(Debug)]
#[allow(dead_code)] // line: shown in assertion messages
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    body: Vec<Instruction>,
}

/// The ARGs declared before the first FROM, and the stages.
type Dockerfile = (Vec<(String, String)>, Vec<Stage>);

/// Parses a Dockerfile: comments, continuation lines, known instructions,
/// ARGs before the first FROM, `FROM image [AS name]`, exec-form JSON.
fn parse_dockerfile(text: &str) -> Result<Dockerfile, String> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        // Comments (and parser directives), also inside a continued instruction.
        if trimmed.starts_with('#') {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if trimmed.is_empty() && acc.is_empty() {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            acc.push_str(body);
            acc.push(' ');
            pending = Some((start, acc));
        } else {
            acc.push_str(trimmed);
            logical.push((start, acc));
        }
    }
    if let Some((line, _)) = pending {
        return Err(format!("line {line}: a continuation runs past the end of the file"));
    }
    let mut args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (line, l) in logical {
        let (kw, rest) = l.split_once(char::is_whitespace).unwrap_or((&l, ""));
        let keyword = kw.to_ascii_uppercase();
        if !INSTRUCTIONS.contains(&keyword.as_str()) {
            return Err(format!("line {line}: unknown instruction {kw}"));
        }
        if kw != keyword {
            return Err(format!("line {line}: write instructions in capitals ({keyword})"));
        }
        let rest = rest.trim().to_string();
        if rest.is_empty() {
            return Err(format!("line {line}: {keyword} without arguments"));
        }
        if ["CMD", "ENTRYPOINT", "SHELL", "RUN"].contains(&keyword.as_str()) && rest.starts_with('[') {
            serde_json::from_str::<Vec<String>>(&rest)
                .map_err(|e| format!("line {line}: {keyword}'s exec form is not a JSON string array: {e}"))?;
        }
        match keyword.as_str() {
            "FROM" => {
                let words: Vec<&str> = rest.split_whitespace().filter(|w| !w.starts_with("--platform=")).collect();
                let (image, name) = match words.as_slice() {
                    [image] => (image.to_string(), None),
                    [image, as_, name] if as_.eq_ignore_ascii_case("as") => (image.to_string(), Some(name.to_string())),
                    _ => return Err(format!("line {line}: FROM image [AS name]")),
                };
                let image = substitute(&image, &args).map_err(|e| format!("line {line}: {e}"))?;
                if let Some(n) = &name {
                    if stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                        return Err(format!("line {line}: stage {n} defined twice"));
                    }
                }
                stages.push(Stage { image, name, body: Vec::new() });
            }
            "ARG" if stages.is_empty() => {
                let (k, v) = rest.split_once('=').unwrap_or((&rest, ""));
                args.push((k.to_string(), v.to_string()));
            }
            _ => {
                if keyword == "COPY" {
                    if let Some(from) = rest.split_whitespace().find_map(|w| w.strip_prefix("--from=")) {
                        let n = stages.len().saturating_sub(1);
                        if !stages[..n].iter().any(|s| s.name.as_deref() == Some(from)) {
                            return Err(format!("line {line}: COPY --from={from}: no earlier stage of that name"));
                        }
                    }
                }
                let stage = stages.last_mut().ok_or(format!("line {line}: {keyword} before the first FROM"))?;
                stage.body.push(Instruction { line, keyword, args: rest });
            }
        }
    }
    if stages.is_empty() {
        return Err("no FROM".into());
    }
    Ok((args, stages))
}

/// `${NAME}` from the ARGs declared before the first FROM.
fn substitute(s: &str, args: &[(String, String)]) -> Result<String, String> {
    let mut out = s.to_string();
    while let Some(start) = out.find("${") {
        let end = out[start..].find('}').ok_or("unclosed ${")? + start;
        let name = &out[start + 2..end];
        let (_, v) = args.iter().find(|(k, _)| k == name).ok_or(format!("ARG {name} is not declared before FROM"))?;
        out.replace_range(start..=end, v);
    }
    Ok(out)
}

/// Packages an `apt-get install` in a RUN installs.
fn installed(run: &str) -> Vec<String> {
    let mut out = Vec::new();
    for cmd in run.split("&&") {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "install") {
            if words[..i].iter().any(|w| w.ends_with("apt-get") || *w == "apt") {
                out.extend(words[i + 1..].iter().filter(|w| !w.starts_with('-')).map(|w| w.to_string()));
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_is_two_stages_with_no_toolchain_in_the_final_image() {
    let text = read("docker/Dockerfile");
    let (args, stages) = parse_dockerfile(&text).unwrap_or_else(|e| panic!("docker/Dockerfile: {e}"));
    assert!(args.iter().any(|(k, _)| k == "RUST_VERSION"), "{args:?}");
    assert!(stages.len() >= 2, "multi-stage");
    let builder = &stages[0];
    assert_eq!(builder.name.as_deref(), Some("builder"));
    assert!(builder.image.starts_with("rust:") && builder.image.ends_with("bookworm"), "{}", builder.image);
    let build_runs: String =
        builder.body.iter().filter(|i| i.keyword == "RUN").map(|i| i.args.as_str()).collect::<Vec<_>>().join("\n");
    let build_pkgs = installed(&build_runs);
    for p in ["libdpdk-dev", "libclang-dev", "pkg-config", "protobuf-compiler"] {
        assert!(build_pkgs.iter().any(|x| x == p), "the builder installs {p}: {build_pkgs:?}");
    }
    assert!(build_runs.contains("cargo build --release --locked"), "{build_runs}");
    for bin in ["mediafwd", "mediafwdctl", "hugepage-setup"] {
        assert!(build_runs.contains(&format!("target/release/{bin}")), "{bin} is built");
    }

    let last = stages.last().unwrap();
    assert!(last.image.starts_with("debian:bookworm"), "final image on Debian 12: {}", last.image);
    let runs: String =
        last.body.iter().filter(|i| i.keyword == "RUN").map(|i| i.args.as_str()).collect::<Vec<_>>().join("\n");
    let pkgs = installed(&runs);
    for p in &pkgs {
        let toolchain =
            ["cargo", "rustc", "rustup", "gcc", "g++", "clang", "build-essential", "make", "protobuf-compiler"]
                .contains(&p.as_str())
                || p.ends_with("-dev")
                || p.starts_with("libclang");
        assert!(!toolchain, "the final image installs toolchain package {p}");
    }
    assert!(pkgs.iter().any(|p| p.starts_with("librte-net-")), "poll-mode drivers: {pkgs:?}");
    assert!(pkgs.iter().any(|p| p.starts_with("librte-mempool-ring")), "the ring mempool driver: {pkgs:?}");
    let copies: Vec<&Instruction> = last.body.iter().filter(|i| i.keyword == "COPY").collect();
    assert!(
        copies.iter().any(|c| c.args.contains("--from=builder") && c.args.contains("/out/bin/")),
        "the binaries come from the builder: {copies:?}"
    );
    let entry = last.body.iter().find(|i| i.keyword == "ENTRYPOINT").expect("ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(&entry.args).expect("exec form");
    assert!(entry[0].ends_with("/mediafwd"), "{entry:?}");
    assert!(!runs.contains("cargo") && !runs.contains("rustup"), "no Rust in the final stage");
}

#[test]
fn the_dockerfile_parser_refuses_what_docker_would() {
    for (bad, says) in [
        ("RUN true\nFROM debian:bookworm\n", "before the first FROM"),
        ("FROM debian:bookworm\nRUNN true\n", "unknown instruction"),
        ("FROM debian:bookworm\nCOPY --from=build /a /b\n", "no earlier stage"),
        ("FROM ${IMG}\n", "not declared"),
        ("FROM debian:bookworm\nENTRYPOINT [\"a\",]\n", "JSON"),
        ("FROM debian:bookworm\nRUN a \\\n", "past the end"),
        ("FROM a AS x\nFROM b AS x\n", "twice"),
    ] {
        let e = parse_dockerfile(bad).unwrap_err();
        assert!(e.contains(says), "{bad:?}: {e}");
    }
}

// ---------------------------------------------------------------- YAML

fn yaml_docs(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut cur = v;
    for key in path.split('.') {
        cur = match key.parse::<usize>() {
            Ok(i) => cur.get(i),
            Err(_) => cur.get(key),
        }
        .unwrap_or_else(|| panic!("no {path} (at {key})"));
    }
    cur
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence().expect("a list").iter().map(|x| x.as_str().expect("a string").to_string()).collect()
}

fn kinds(dir: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for name in ["namespace.yaml", "configmap.yaml", "deployment.yaml"] {
        for doc in yaml_docs(&format!("{dir}/{name}")) {
            assert!(doc.get("apiVersion").is_some(), "{name}: apiVersion");
            let kind = at(&doc, "kind").as_str().unwrap().to_string();
            assert!(doc.get("metadata").and_then(|m| m.get("name")).is_some(), "{name}: metadata.name");
            out.insert(kind, doc);
        }
    }
    out
}

#[test]
fn the_kubernetes_manifests_give_a_guaranteed_pinned_hugepage_pod_that_drains() {
    let k = kinds("docker/kubernetes");
    let kustomization = &yaml_docs("docker/kubernetes/kustomization.yaml")[0];
    assert_eq!(strings(at(kustomization, "resources")).len(), 3);
    let d = &k["Deployment"];
    let pod = at(d, "spec.template.spec");
    assert_eq!(at(pod, "hostNetwork").as_bool(), Some(true));
    assert_eq!(at(pod, "dnsPolicy").as_str(), Some("ClusterFirstWithHostNet"));
    let grace = at(pod, "terminationGracePeriodSeconds").as_u64().unwrap();
    assert!(grace >= 4 * 3600, "grace period sized for calls: {grace}");
    assert_eq!(at(d, "spec.strategy.rollingUpdate.maxUnavailable").as_u64(), Some(0));
    let c = at(pod, "containers.0");

    // Guaranteed QoS, integer CPUs: requests equal limits, for every resource.
    let requests = at(c, "resources.requests");
    let limits = at(c, "resources.limits");
    assert_eq!(requests, limits, "requests = limits (Guaranteed QoS)");
    let cpu = at(requests, "cpu").as_str().expect("cpu as a string");
    let cpus: u32 = cpu.parse().unwrap_or_else(|_| panic!("an integer CPU count for the static CPU manager: {cpu}"));
    assert!(cpus >= 2, "one control and at least one worker core");
    assert!(requests.get("memory").is_some());
    let keys: Vec<String> = requests.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect();
    assert!(keys.iter().any(|k| k == "hugepages-1Gi" || k == "hugepages-2Mi"), "{keys:?}");
    let sriov = keys.iter().find(|k| k.contains('/')).expect("an SR-IOV device-plugin resource");
    assert_eq!(sriov, "intel.com/sriov_netdevice");
    let env_var = format!("PCIDEVICE_{}", sriov.to_ascii_uppercase().replace(['.', '/'], "_"));

    // Hugepage volume of the requested size.
    let huge = keys.iter().find(|k| k.starts_with("hugepages-")).unwrap();
    let medium = format!("HugePages-{}", huge.trim_start_matches("hugepages-"));
    let volumes = at(pod, "volumes").as_sequence().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v.get("emptyDir").and_then(|e| e.get("medium")).and_then(Value::as_str) == Some(medium.as_str())),
        "a {medium} volume"
    );
    let mounts = at(c, "volumeMounts").as_sequence().unwrap();
    assert!(mounts.iter().any(|m| at(m, "mountPath").as_str() == Some("/dev/hugepages")));

    // Cores from the container's exclusive CPUs.
    assert!(strings(at(c, "args")).contains(&"--cores-from-affinity".to_string()));
    let caps = strings(at(c, "securityContext.capabilities.add"));
    assert!(caps.contains(&"IPC_LOCK".to_string()), "{caps:?}");

    // The configuration parses, validates, and agrees with the pod.
    let toml = at(&k["ConfigMap"], "data").get("mediafwd.toml").and_then(Value::as_str).expect("mediafwd.toml");
    let mut config = Config::parse(toml).unwrap_or_else(|e| panic!("the ConfigMap's mediafwd.toml: {e}"));
    for (i, iface) in config.interfaces.iter_mut().enumerate() {
        assert!(iface.device.contains(&format!("${{{env_var}[{i}]}}")), "{}", iface.device);
        iface.device =
            expand_env(&iface.device, |n| (n == env_var).then(|| "0000:3b:02.2,0000:3b:02.5".to_string())).unwrap();
    }
    let api_port: u16 = config.api.listen.rsplit(':').next().unwrap().parse().unwrap();
    let metrics_port = config.api.metrics_listen.rsplit(':').next().unwrap().to_string();
    let v = config.validate().unwrap_or_else(|e| panic!("the ConfigMap's mediafwd.toml: {e}"));
    assert_eq!(v.interfaces.len(), 2);
    let annotations = at(d, "spec.template.metadata.annotations");
    assert_eq!(annotations.get("prometheus.io/port").and_then(Value::as_str), Some(metrics_port.as_str()));

    // Probes through the gRPC health service; liveness survives a drain.
    assert_eq!(at(c, "readinessProbe.grpc.port").as_u64(), Some(api_port as u64));
    assert_eq!(at(c, "readinessProbe.grpc.service").as_str(), Some(""));
    assert_eq!(at(c, "livenessProbe.grpc.port").as_u64(), Some(api_port as u64));
    assert_eq!(at(c, "livenessProbe.grpc.service").as_str(), Some(mediafwd_controlplane::api::LIVENESS));

    // preStop drains and waits for zero sessions, on the API's port.
    let stop = strings(at(c, "lifecycle.preStop.exec.command"));
    assert_eq!(stop[0], "mediafwdctl");
    assert!(stop.contains(&"drain".to_string()) && stop.contains(&"--wait".to_string()), "{stop:?}");
    assert!(stop.contains(&format!("http://127.0.0.1:{api_port}")), "{stop:?}");
}

#[test]
fn the_compose_file_runs_on_the_host_network_with_hugepages() {
    let doc = &yaml_docs("docker/compose.yaml")[0];
    let s = at(doc, "services.mediafwd");
    assert_eq!(at(s, "network_mode").as_str(), Some("host"));
    assert_eq!(at(s, "build.dockerfile").as_str(), Some("docker/Dockerfile"));
    let privileged = s.get("privileged").and_then(Value::as_bool).unwrap_or(false);
    let caps = s.get("cap_add").map(strings).unwrap_or_default();
    assert!(privileged || ["IPC_LOCK", "NET_ADMIN", "SYS_ADMIN"].iter().all(|c| caps.contains(&c.to_string())));
    let volumes = strings(at(s, "volumes"));
    assert!(volumes.iter().any(|v| v.starts_with("/dev/hugepages:/dev/hugepages")), "{volumes:?}");
    assert!(strings(at(s, "command")).contains(&"--cores-from-affinity".to_string()));
    assert!(s.get("cpuset").is_some());
    assert_eq!(at(s, "ulimits.memlock").as_i64(), Some(-1));
    assert!(strings(at(s, "healthcheck.test")).contains(&"liveness".to_string()));
}

// ---------------------------------------------------------------- systemd

/// Sections of a unit file, each key with all its values in order.
fn parse_unit(text: &str) -> Result<BTreeMap<String, BTreeMap<String, Vec<String>>>, String> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.ends_with('\\') {
            return Err(format!("line {}: continuation lines are not used here", i + 1));
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            continue;
        }
        let (k, v) = line.split_once('=').ok_or(format!("line {}: not key=value: {line}", i + 1))?;
        let s = section.as_ref().ok_or(format!("line {}: a key outside any section", i + 1))?;
        if k.trim().is_empty() || k.trim().contains(' ') {
            return Err(format!("line {}: bad key {k:?}", i + 1));
        }
        out.get_mut(s).unwrap().entry(k.trim().to_string()).or_default().push(v.trim().to_string());
    }
    Ok(out)
}

#[test]
fn the_systemd_unit_is_hardened_needs_the_hugepage_mount_and_drains_on_stop() {
    let unit = parse_unit(&read("deploy/systemd/mediafwd.service")).unwrap();
    let get = |s: &str, k: &str| -> String {
        unit.get(s).and_then(|m| m.get(k)).map(|v| v.join(" ")).unwrap_or_else(|| panic!("[{s}] {k}="))
    };
    // The mount unit hugepage-setup persist writes for /dev/hugepages.
    let mount = mediafwd_hugepage_setup::persist::mount_unit_name("/dev/hugepages");
    assert!(get("Unit", "Requires").split_whitespace().any(|u| u == mount), "Requires={mount}");
    assert!(get("Unit", "After").split_whitespace().any(|u| u == mount), "After={mount}");

    assert!(get("Service", "ExecStart").contains("mediafwd --config /etc/mediafwd/mediafwd.toml"));
    assert!(get("Service", "ExecStartPre").contains("--check-config"));
    let stop = get("Service", "ExecStop");
    assert!(stop.contains("mediafwdctl") && stop.contains("drain") && stop.contains("--wait"), "{stop}");
    assert_eq!(get("Service", "Restart"), "on-failure");
    assert!(get("Service", "TimeoutStopSec").starts_with("4h"), "sized for calls");
    assert_eq!(get("Service", "ProtectSystem"), "strict");
    assert_eq!(get("Service", "ProtectHome"), "yes");
    assert_eq!(get("Service", "NoNewPrivileges"), "yes");
    assert_eq!(get("Service", "LimitMEMLOCK"), "infinity");
    let caps = get("Service", "CapabilityBoundingSet");
    for c in ["CAP_IPC_LOCK", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SYS_RAWIO"] {
        assert!(caps.split_whitespace().any(|x| x == c), "{c} in CapabilityBoundingSet");
    }
    assert!(!caps.contains("CAP_SYS_MODULE") && !caps.contains("CAP_SYS_PTRACE"), "{caps}");
    assert!(get("Service", "ReadWritePaths").contains("/run/dpdk"), "DPDK's runtime directory");
    assert!(!unit["Service"].contains_key("PrivateDevices"), "PrivateDevices hides /dev/vfio and /dev/hugepages");
    assert_eq!(get("Install", "WantedBy"), "multi-user.target");
}

#[test]
fn the_unit_parser_refuses_malformed_lines() {
    assert!(parse_unit("Key=value\n").is_err());
    assert!(parse_unit("[Unit]\nno equals sign\n").is_err());
    assert!(parse_unit("[Unit]\nA=b \\\n").is_err());
    let u = parse_unit("[Service]\nExecStartPre=a\nExecStartPre=b\n").unwrap();
    assert_eq!(u["Service"]["ExecStartPre"], ["a", "b"]);
}
