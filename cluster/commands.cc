#include "cluster/commands.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cluster/spec.h"
#include "common/subprocess.h"

namespace ehabus::cluster {

namespace {

using namespace std::chrono_literals;

int Usage(const std::string& problem) {
  std::fprintf(stderr, "ehabus cluster: %s\nusage: ehabus cluster ...\n%s",
               problem.c_str(), kUsage);
  return 2;
}

struct RunResult {
  int exit_code = -1;  // -1: did not finish or could not start
  std::string output;
  std::string problem;
};

// Runs ARGV with a deadline; stdout and stderr captured together unless
// OUTPUT_FILE is given (then stdout and stderr go there).
RunResult Run(const std::vector<std::string>& argv,
              std::chrono::milliseconds deadline,
              const std::string& input_file = "",
              const std::string& output_file = "") {
  RunOptions options;
  options.argv = argv;
  options.timeout = deadline;
  options.grace = 1s;
  options.input_file = input_file;
  options.output_file = output_file;
  options.capture_limit = 32 * 1024 * 1024;
  auto run = ehabus::Run(options);
  RunResult result;
  if (!run.started()) {
    result.problem = argv[0] + ": " + run.spawn_error;
  } else if (run.timed_out) {
    result.problem = argv[0] + ": no answer within " +
                     std::to_string(deadline.count() / 1000) + " s";
  } else if (WIFEXITED(run.wait_status)) {
    result.exit_code = run.exit_code();
    result.output = std::move(run.output);
  } else {
    result.output = std::move(run.output);
    result.problem = argv[0] + ": " + run.Describe();
  }
  return result;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

// The stored configuration's base64 is unreadable in a diff: its size
// stands for it (its digest is on the line before).
std::string HideBlob(std::string text) {
  const std::string key = "name=\"ehabus-config\" value=\"";
  auto at = text.find(key);
  if (at == std::string::npos) return text;
  at += key.size();
  auto end = text.find('"', at);
  if (end == std::string::npos) return text;
  text.replace(at, end - at,
               "(" + std::to_string(end - at) + " bytes of base64)");
  return text;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ehabus-cluster-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void PrintErrors(const std::vector<ConfigError>& errors) {
  for (const auto& e : errors) {
    std::fprintf(stderr, "%s\n", e.ToString().c_str());
  }
}

// The cluster of CONFIG and what is stored with it, or nullopt after
// printing every problem.
std::optional<std::pair<Spec, RenderOptions>> Load(const Config& config,
                                                   const std::string& path) {
  auto spec = SpecFrom(config, path);
  if (!spec) {
    PrintErrors(spec.error());
    return std::nullopt;
  }
  RenderOptions options;
  if (spec->config_sync) {
    auto shared = SharedConfig::Read(path);
    if (!shared) {
      std::fprintf(stderr, "ehabus cluster: %s\n", shared.error().c_str());
      return std::nullopt;
    }
    options.shared_config = shared->Encode();
    options.shared_digest = shared->Digest();
  }
  return std::make_pair(std::move(*spec), std::move(options));
}

int Render(const Config& config, const std::string& path,
           const std::vector<std::string>& args) {
  std::string format = "xml";
  bool simulate = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--format" && i + 1 < args.size()) {
      format = args[++i];
    } else if (args[i] == "--simulate") {
      simulate = true;
    } else {
      return Usage("render: unknown argument \"" + args[i] + "\"");
    }
  }
  auto loaded = Load(config, path);
  if (!loaded) return 1;
  auto& [spec, options] = *loaded;
  options.simulate = simulate;
  if (format == "xml") {
    std::cout << RenderXml(spec, options);
  } else if (format == "crm") {
    std::cout << RenderCrm(spec, options);
  } else if (format == "corosync") {
    std::cout << RenderCorosync(spec);
  } else if (format == "sbd") {
    if (spec.fencing_mode != "sbd") {
      std::fprintf(stderr, "ehabus cluster: [fencing] mode is not sbd\n");
      return 1;
    }
    std::cout << RenderSbd(spec);
  } else {
    return Usage("render: unknown format \"" + format + "\"");
  }
  return 0;
}

int Apply(const Config& config, const std::string& path,
          const std::vector<std::string>& args) {
  bool dry_run = false;
  for (const auto& a : args) {
    if (a == "--dry-run") {
      dry_run = true;
    } else {
      return Usage("apply: unknown argument \"" + a + "\"");
    }
  }
  auto loaded = Load(config, path);
  if (!loaded) return 1;
  auto& [spec, options] = *loaded;
  auto live = Run({"cibadmin", "--query"}, 30s);
  if (live.exit_code != 0) {
    std::fprintf(
        stderr, "ehabus cluster: cannot read the live CIB: %s\n",
        Trim(live.problem.empty() ? live.output : live.problem).c_str());
    return 1;
  }
  auto merged = MergeConfiguration(live.output, RenderXml(spec, options));
  auto before = ConfigurationOf(live.output);
  if (!merged || !before) {
    std::fprintf(stderr, "ehabus cluster: %s\n",
                 (!merged ? merged.error() : before.error()).c_str());
    return 1;
  }
  TempDir tmp;
  std::string before_file = tmp.path() + "/live";
  std::string after_file = tmp.path() + "/ehabus";
  WriteFile(before_file, HideBlob(*before));
  WriteFile(after_file, HideBlob(*merged));
  auto diff = Run({"diff", "-u", "--label", "live CIB", "--label",
                   "rendered from " + path, before_file, after_file},
                  10s);
  if (diff.exit_code == 0) {
    std::cout << "ehabus cluster: the live configuration is already "
                 "the rendered one; nothing to apply\n";
    return 0;
  }
  std::cout << diff.output;
  // The whole candidate CIB must pass Pacemaker's own checks first.
  std::string candidate = live.output;
  auto start = candidate.find("<configuration");
  auto end = candidate.find("</configuration>");
  if (start == std::string::npos || end == std::string::npos) {
    std::fprintf(stderr,
                 "ehabus cluster: the live CIB has no "
                 "<configuration>\n");
    return 1;
  }
  candidate.replace(start, end + 16 - start, *merged);
  std::string candidate_file = tmp.path() + "/candidate.xml";
  WriteFile(candidate_file, candidate);
  auto verify = Run({"crm_verify", "--xml-file", candidate_file}, 60s);
  if (verify.exit_code != 0) {
    std::fprintf(stderr,
                 "ehabus cluster: crm_verify rejects the result, nothing "
                 "applied:\n%s\n",
                 Trim(verify.output + verify.problem).c_str());
    return 1;
  }
  if (dry_run) {
    std::cout << "ehabus cluster: dry run; crm_verify accepts it; nothing "
                 "applied\n";
    return 0;
  }
  std::string config_file = tmp.path() + "/configuration.xml";
  WriteFile(config_file, *merged);
  auto replace = Run({"cibadmin", "--replace", "--scope", "configuration",
                      "--xml-file", config_file},
                     60s);
  if (replace.exit_code != 0) {
    std::fprintf(stderr, "ehabus cluster: cibadmin --replace failed: %s\n",
                 Trim(replace.output + replace.problem).c_str());
    return 1;
  }
  std::cout << "ehabus cluster: applied; Pacemaker restarts only the "
               "resources whose definition changed\n";
  return 0;
}

int Maintenance(const std::vector<std::string>& args) {
  if (args.size() != 1 || (args[0] != "on" && args[0] != "off")) {
    return Usage("maintenance: on or off");
  }
  auto r =
      Run({"crm_attribute", "--type", "crm_config", "--name",
           "maintenance-mode", "--update", args[0] == "on" ? "true" : "false"},
          30s);
  if (r.exit_code != 0) {
    std::fprintf(stderr, "ehabus cluster: crm_attribute failed: %s\n",
                 Trim(r.output + r.problem).c_str());
    return 1;
  }
  std::cout << (args[0] == "on"
                    ? "cluster maintenance on: Pacemaker neither starts, "
                      "stops nor monitors resources until `off`\n"
                    : "cluster maintenance off: Pacemaker manages the "
                      "resources again\n");
  return 0;
}

std::optional<std::string> ClusterProperty(const std::string& name,
                                           std::string* problem) {
  auto r = Run({"crm_attribute", "--type", "crm_config", "--set-name",
                "ehabus-config", "--name", name, "--query", "--quiet"},
               15s);
  if (r.exit_code != 0) {
    *problem = Trim(r.problem.empty() ? r.output : r.problem);
    return std::nullopt;
  }
  return Trim(r.output);
}

int Sync(const std::string& path, const std::vector<std::string>& args) {
  bool restart = false;
  for (const auto& a : args) {
    if (a == "--restart") {
      restart = true;
    } else {
      return Usage("sync: unknown argument \"" + a + "\"");
    }
  }
  std::string problem;
  auto encoded = ClusterProperty("ehabus-config", &problem);
  if (!encoded &&
      problem.find("No such device or address") != std::string::npos) {
    // A new cluster: nothing stored yet, nothing to take.
    std::cout << "ehabus cluster: no configuration stored in the CIB yet "
                 "(`ehabus cluster apply` stores it)\n";
    return 0;
  }
  if (!encoded) {
    std::fprintf(stderr,
                 "ehabus cluster: no configuration in the CIB (%s); run "
                 "`ehabus cluster apply` on a node first\n",
                 problem.c_str());
    return 1;
  }
  auto shared = SharedConfig::Decode(*encoded);
  if (!shared) {
    std::fprintf(stderr,
                 "ehabus cluster: CIB property ehabus-config: %s; nothing "
                 "written\n",
                 shared.error().c_str());
    return 1;
  }
  auto local = SharedConfig::Read(path);
  bool same = local && local->Digest() == shared->Digest();
  if (!same) {
    // Check the cluster's configuration as this node would load it before
    // it replaces anything here.
    TempDir tmp;
    for (const auto& [name, text] : shared->files) {
      std::filesystem::create_directories(
          std::filesystem::path(tmp.path() + "/" + name).parent_path());
      WriteFile(tmp.path() + "/" + name, text);
    }
    auto check = Config::Load(tmp.path() + "/ehabus.ini");
    if (!check) {
      std::fprintf(stderr,
                   "ehabus cluster: the cluster's configuration does not "
                   "load here; nothing written:\n");
      for (auto e : check.error()) {
        e.file = "CIB:" + e.file.substr(tmp.path().size() + 1);
        std::fprintf(stderr, "%s\n", e.ToString().c_str());
      }
      return 1;
    }
    auto changed = shared->Write(path);
    if (!changed) {
      std::fprintf(stderr, "ehabus cluster: %s\n", changed.error().c_str());
      return 1;
    }
    for (const auto& name : *changed) {
      std::cout << "ehabus cluster: " << name << " updated from the CIB\n";
    }
  } else {
    std::cout << "ehabus cluster: configuration is the cluster's ("
              << shared->Digest().substr(0, 12) << ")\n";
  }
  // Tell the other nodes which configuration this one uses.
  if (std::getenv("CIB_file") == nullptr) {
    auto r = Run({"attrd_updater", "--name", "ehabus-config-sha256", "--update",
                  shared->Digest()},
                 15s);
    if (r.exit_code != 0) {
      std::fprintf(stderr, "ehabus cluster: attrd_updater: %s\n",
                   Trim(r.output + r.problem).c_str());
    }
  }
  if (!same && restart) {
    auto r = Run({"systemctl", "try-restart", "ehabus-*.service"}, 120s);
    if (r.exit_code != 0) {
      std::fprintf(stderr, "ehabus cluster: systemctl try-restart: %s\n",
                   Trim(r.output + r.problem).c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

std::string ResolveConfigPath(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* env = std::getenv("EHABUS_CONFIG"); env && *env) return env;
  return EHABUS_DEFAULT_CONFIG;
}

int Command(const Config& config, const std::string& config_path,
            const std::vector<std::string>& args) {
  if (args.empty()) return Usage("which command?");
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "render") return Render(config, config_path, rest);
  if (args[0] == "apply") return Apply(config, config_path, rest);
  if (args[0] == "sync") return Sync(config_path, rest);
  if (args[0] == "maintenance") return Maintenance(rest);
  return Usage("unknown command \"" + args[0] + "\"");
}

std::string StatusText(const Config& config, const std::string& config_path) {
  if (!config.Bool("cluster", "config_sync") ||
      config.List("cluster", "nodes").empty()) {
    return "";
  }
  std::string problem;
  auto cib_digest = ClusterProperty("ehabus-config-sha256", &problem);
  if (!cib_digest)
    return "cluster configuration: not known (" + problem + ")\n";
  std::string out;
  auto local = SharedConfig::Read(config_path);
  std::string local_digest = local ? local->Digest() : "unreadable";
  out += "cluster configuration: " + cib_digest->substr(0, 12) + " in the CIB";
  out += local_digest == *cib_digest
             ? ", this node has it\n"
             : "; THIS NODE DIFFERS (" + local_digest.substr(0, 12) +
                   "): run `ehabus cluster sync` or `ehabus cluster apply`\n";
  auto nodes = Run(
      {"attrd_updater", "--query", "--all", "--name", "ehabus-config-sha256"},
      10s);
  if (nodes.exit_code == 0) {
    // Lines: name="ehabus-config-sha256" host="mail1" value="..."
    std::istringstream in(nodes.output);
    for (std::string line; std::getline(in, line);) {
      auto field = [&](const std::string& key) {
        auto at = line.find(key + "=\"");
        if (at == std::string::npos) return std::string();
        at += key.size() + 2;
        return line.substr(at, line.find('"', at) - at);
      };
      std::string host = field("host"), value = field("value");
      if (host.empty()) continue;
      if (value != *cib_digest) {
        out += "  node " + host + " uses a DIFFERENT configuration (" +
               (value.empty() ? std::string("none reported")
                              : value.substr(0, 12)) +
               ")\n";
      }
    }
  }
  return out;
}

}  // namespace ehabus::cluster
