// `ehabus cluster render/apply/sync` against Pacemaker's own tools, without a
// cluster: crm_verify checks every example's configuration, crm_simulate
// shows what the cluster would do with it (start, red health, node lost,
// gateway lost), crmsh loads the crm form into the same configuration, and
// apply and sync work on a CIB file (CIB_file, which cibadmin and
// crm_attribute honour as they would a live cluster).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/testing/bus_fixture.h"

namespace {

using namespace std::chrono_literals;
namespace et = ehabus::testing;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Example(const std::string& name) {
  return std::string(EHABUS_SOURCE_DIR) + "/etc/examples/" + name + ".ini";
}

std::vector<std::string> Examples() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(
           std::string(EHABUS_SOURCE_DIR) + "/etc/examples")) {
    if (e.path().extension() == ".ini") out.push_back(e.path().stem());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs ARGV with CIB_file=CIB (when given) in the environment.
et::Ran RunWith(const std::string& cib, std::vector<std::string> argv,
                std::chrono::milliseconds timeout = 60s) {
  if (!cib.empty()) argv.insert(argv.begin(), {"env", "CIB_file=" + cib});
  return et::Run(std::move(argv), timeout);
}

// The lines of crm_simulate's output between HEADING and the next blank
// line.
std::vector<std::string> Section(const std::string& output,
                                 const std::string& heading) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(heading)) {
      inside = true;
      continue;
    }
    if (inside && line.empty()) break;
    if (inside) lines.push_back(line);
  }
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

bool Has(const std::vector<std::string>& lines, const std::string& pattern) {
  std::regex re(pattern);
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return std::regex_search(l, re);
  });
}

int IndexOf(const std::vector<std::string>& lines, const std::string& pattern) {
  std::regex re(pattern);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (std::regex_search(lines[i], re)) return static_cast<int>(i);
  }
  return -1;
}

class Render : public ::testing::Test {
 protected:
  et::Ran Cli(const std::string& config, std::vector<std::string> args,
              const std::string& cib = "") {
    args.insert(args.begin(), {EHABUS_CLI, "--config", config});
    return RunWith(cib, std::move(args));
  }
  std::string RenderTo(const std::string& config, const std::string& file,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"cluster", "render"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = Cli(config, args);
    EXPECT_EQ(r.exit_code(), 0) << r.output;
    std::string path = dir_.path() + "/" + file;
    std::ofstream(path) << r.output;
    return path;
  }
  // Simulates the cluster's reaction to CIB, saving the result to OUT.
  std::string Simulate(const std::string& cib, const std::string& out,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        "crm_simulate", "--xml-file",    cib,
        "--simulate",   "--save-output", dir_.path() + "/" + out};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = et::Run(argv, 60s);
    EXPECT_EQ(r.exit_code(), 0) << r.output;
    return r.output;
  }
  void SetAttribute(const std::string& cib, const std::string& node,
                    const std::string& name, const std::string& value) {
    auto r = RunWith(cib, {"crm_attribute", "--node", node, "--name", name,
                           "--update", value, "--lifetime", "reboot"});
    ASSERT_EQ(r.exit_code(), 0) << r.output;
  }
  // The node running the group after a simulation of the started cluster.
  std::string Started(const std::string& output, const std::string& rsc) {
    std::smatch m;
    std::regex re(rsc + "\\s+\\(ocf:[^)]*\\):\\s+Started (\\S+)");
    auto revised = Join(Section(output, "Revised Cluster Status"));
    std::string text = output.substr(output.find("Revised Cluster Status"));
    if (std::regex_search(text, m, re)) return m[1];
    return "";
  }
  // The two-node example started: returns the CIB file and the active node.
  // (The stack resource names CONFIG: the same file must be applied later,
  // or its definition changes.)
  std::pair<std::string, std::string> StartedCluster(
      const std::string& config = Example("two-node-sbd")) {
    auto sim = RenderTo(config, "sim.xml", {"--simulate"});
    auto out = Simulate(sim, "started.xml");
    std::string active = Started(out, "mailstack");
    EXPECT_FALSE(active.empty()) << out;
    return {dir_.path() + "/started.xml", active};
  }

  et::TempDir dir_;
};

TEST_F(Render, EveryExamplePassesCrmVerifyWithoutWarnings) {
  auto examples = Examples();
  ASSERT_GE(examples.size(), 3u);
  for (const auto& name : examples) {
    auto config = RenderTo(Example(name), name + ".xml");
    auto r = et::Run({"crm_verify", "--xml-file", config, "--verbose"});
    EXPECT_EQ(r.exit_code(), 0) << name << ":\n" << r.output;
    EXPECT_EQ(r.output, "") << name;
    // The whole cluster, both nodes online, checked the same way.
    auto sim = RenderTo(Example(name), name + "-sim.xml", {"--simulate"});
    r = et::Run({"crm_verify", "--xml-file", sim, "--verbose"});
    EXPECT_EQ(r.exit_code(), 0) << name << ":\n" << r.output;
    EXPECT_EQ(r.output, "") << name;
  }
}

TEST_F(Render, OutputIsDeterministicAndCarriesTheFencingDefaults) {
  auto a = Cli(Example("two-ring-mixed"), {"cluster", "render"});
  auto b = Cli(Example("two-ring-mixed"), {"cluster", "render"});
  ASSERT_EQ(a.exit_code(), 0) << a.output;
  EXPECT_EQ(a.output, b.output);
  const auto& x = a.output;
  EXPECT_NE(x.find("name=\"stonith-enabled\" value=\"true\""),
            std::string::npos);
  EXPECT_NE(x.find("name=\"node-health-strategy\" value=\"migrate-on-red\""),
            std::string::npos);
  EXPECT_NE(x.find("name=\"priority-fencing-delay\" value=\"5s\""),
            std::string::npos);
  // msgwait 6 s * 1.2 + delay 5 s + 10 s, at least 60 s.
  EXPECT_NE(x.find("name=\"stonith-timeout\" value=\"60s\""),
            std::string::npos);
  EXPECT_NE(x.find("value=\"-L mailspool\""), std::string::npos);
  EXPECT_NE(x.find("value=\"2001:db8:10::100\""), std::string::npos);
  EXPECT_NE(x.find("/dev/disk/by-partuuid/8c3b2f2e"), std::string::npos);
  // Storage in file order, then the VIPs, then the stack.
  auto spool = x.find("id=\"fs-spool\""), archive = x.find("id=\"fs-archive\"");
  auto vip = x.find("id=\"vip-1\""), stack = x.find("id=\"mailstack\"");
  EXPECT_LT(spool, archive);
  EXPECT_LT(archive, vip);
  EXPECT_LT(vip, stack);

  auto corosync = Cli(Example("two-ring-mixed"),
                      {"cluster", "render", "--format", "corosync"});
  ASSERT_EQ(corosync.exit_code(), 0);
  EXPECT_NE(corosync.output.find("two_node: 1"), std::string::npos);
  EXPECT_NE(corosync.output.find("ring1_addr: 198.18.2.12"), std::string::npos);
  EXPECT_NE(corosync.output.find("token: 1000"), std::string::npos);
  auto sbd =
      Cli(Example("two-ring-mixed"), {"cluster", "render", "--format", "sbd"});
  ASSERT_EQ(sbd.exit_code(), 0);
  EXPECT_NE(sbd.output.find("SBD_WATCHDOG_TIMEOUT=3\n"), std::string::npos);
  EXPECT_NE(sbd.output.find(" -1 3 -4 6 create"), std::string::npos);
  // Three nodes: no two_node, fenced by the agent.
  auto three = Cli(Example("three-node-ipmi"),
                   {"cluster", "render", "--format", "corosync"});
  EXPECT_EQ(three.output.find("two_node"), std::string::npos);
  EXPECT_NE(three.output.find("nodeid: 3"), std::string::npos);
}

// crmsh loads the crm form into the configuration the XML form is.
TEST_F(Render, CrmFormLoadsIntoTheSameConfiguration) {
  for (const auto& name : Examples()) {
    auto xml = RenderTo(Example(name), name + ".xml");
    auto crm = RenderTo(Example(name), name + ".crm", {"--format", "crm"});
    std::string empty = dir_.path() + "/" + name + "-crm.xml";
    auto e = et::Run({"cibadmin", "--empty"});
    ASSERT_EQ(e.exit_code(), 0);
    std::ofstream(empty) << e.output;
    // -F: crmsh cannot find ocf:ehabus:mailstack's meta-data unless the
    // agent is installed; it loads the resource as written.
    auto load =
        RunWith(empty, {"crm", "-F", "configure", "load", "update", crm}, 120s);
    ASSERT_EQ(load.exit_code(), 0) << name << ":\n" << load.output;
    auto show_xml = RunWith(xml, {"crm", "configure", "show"});
    auto show_crm = RunWith(empty, {"crm", "configure", "show"});
    auto strip = [](const std::string& text) {
      std::string out;
      std::istringstream in(text);
      for (std::string l; std::getline(in, l);) {
        if (!l.starts_with("#")) out += l + "\n";
      }
      return out;
    };
    EXPECT_EQ(strip(show_xml.output), strip(show_crm.output)) << name;
    EXPECT_NE(show_xml.output.find("primitive mailstack ocf:ehabus:mailstack"),
              std::string::npos);
  }
}

TEST_F(Render, StackStartsOnOneNodeAfterStorageAndVip) {
  auto sim = RenderTo(Example("two-ring-mixed"), "sim.xml", {"--simulate"});
  auto out = Simulate(sim, "started.xml");
  auto actions = Section(out, "Executing Cluster Transition");
  std::string node = Started(out, "mailstack");
  ASSERT_FALSE(node.empty()) << out;
  for (const char* rsc : {"fs-spool", "fs-archive", "vip-1", "vip-2"}) {
    EXPECT_EQ(Started(out, rsc), node) << rsc << "\n" << out;
  }
  int stack = IndexOf(actions, "mailstack\\s+start on " + node);
  ASSERT_GE(stack, 0) << out;
  for (const char* rsc : {"fs-spool", "fs-archive", "vip-1", "vip-2"}) {
    int i = IndexOf(actions, std::string(rsc) + "\\s+start on " + node);
    EXPECT_GE(i, 0) << rsc;
    EXPECT_LT(i, stack) << rsc << " starts after the stack\n" << out;
  }
  EXPECT_LT(IndexOf(actions, "fs-spool\\s+start"),
            IndexOf(actions, "fs-archive\\s+start"));
  // The stack runs on one node only.
  EXPECT_FALSE(Has(actions, "mailstack\\s+start on (?!" + node + ")"));
}

TEST_F(Render, RedHealthOnTheActiveNodeMovesEverything) {
  auto [cib, active] = StartedCluster();
  std::string other = active == "mail1" ? "mail2" : "mail1";
  SetAttribute(cib, active, "#health-ehabus", "red");
  auto out = Simulate(cib, "red.xml");
  auto summary = Section(out, "Transition Summary");
  for (const char* rsc : {"fs-mail", "vip-1", "mailstack"}) {
    EXPECT_TRUE(Has(summary, std::string("Move\\s+") + rsc + "\\s+\\( " +
                                 active + " -> " + other + " \\)"))
        << rsc << "\n"
        << out;
  }
  // The node itself stays in the cluster: no fencing, ping keeps running.
  EXPECT_FALSE(Has(summary, "Fence")) << out;
  EXPECT_FALSE(Has(summary, "ping")) << out;
  // Green again: nothing moves back (stickiness).
  SetAttribute(dir_.path() + "/red.xml", active, "#health-ehabus", "green");
  auto back = Simulate(dir_.path() + "/red.xml", "green.xml");
  EXPECT_TRUE(Section(back, "Transition Summary").empty()) << back;
}

TEST_F(Render, LosingTheActiveNodeFencesItThenMovesEverything) {
  auto [cib, active] = StartedCluster();
  std::string other = active == "mail1" ? "mail2" : "mail1";
  auto out = Simulate(cib, "lost.xml", {"--node-fail", active});
  auto summary = Section(out, "Transition Summary");
  auto actions = Section(out, "Executing Cluster Transition");
  EXPECT_TRUE(Has(summary, "Fence \\(reboot\\) " + active)) << out;
  int fence = IndexOf(actions, "Fencing " + active);
  ASSERT_GE(fence, 0) << out;
  for (const char* rsc : {"fs-mail", "vip-1", "mailstack"}) {
    int start = IndexOf(actions, std::string(rsc) + "\\s+start on " + other);
    ASSERT_GE(start, 0) << rsc << "\n" << out;
    EXPECT_LT(fence, start) << rsc << " starts before the fencing\n" << out;
  }
}

TEST_F(Render, LosingPingOnTheActiveNodeMovesOnBothDoesNot) {
  auto [cib, active] = StartedCluster();
  std::string other = active == "mail1" ? "mail2" : "mail1";
  std::filesystem::copy_file(cib, dir_.path() + "/both.xml");
  SetAttribute(cib, active, "pingd", "0");
  auto out = Simulate(cib, "ping-active.xml");
  auto summary = Section(out, "Transition Summary");
  EXPECT_TRUE(Has(
      summary, "Move\\s+mailstack\\s+\\( " + active + " -> " + other + " \\)"))
      << out;
  EXPECT_FALSE(Has(summary, "Fence")) << out;

  std::string both = dir_.path() + "/both.xml";
  SetAttribute(both, active, "pingd", "0");
  SetAttribute(both, other, "pingd", "0");
  out = Simulate(both, "ping-both.xml");
  summary = Section(out, "Transition Summary");
  EXPECT_TRUE(summary.empty()) << out;
  EXPECT_EQ(Started(out, "mailstack"), active) << out;
}

TEST_F(Render, BadClusterSectionsAreReportedWithTheirPlace) {
  std::string path = dir_.Write("bad.ini",
                                "[cluster]\n"
                                "nodes = mail1, mail2\n"
                                "ring0 = 198.18.1.1\n"
                                "[vip]\n"
                                "addresses = 198.18.10.100\n"
                                "[fencing]\n"
                                "sbd_devices = sdb\n"
                                "sbd_watchdog_timeout = 10s\n"
                                "[storage.x]\n"
                                "device = server:/export\n"
                                "mountpoint = /srv/x\n");
  auto r = Cli(path, {"cluster", "render"});
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_NE(
      r.output.find(path + ":3: [cluster] ring0: 1 addresses for 2 nodes"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(path + ":5: [vip] addresses: \"198.18.10.100\" is "
                                 "not ADDRESS/PREFIX"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(path + ":7: [fencing] sbd_devices: \"sdb\" is "
                                 "neither /dev/PATH nor PARTUUID=..."),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("[fencing] sbd_msgwait: 10s is less than twice"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("[storage.x] fstype: a network mount needs its type"),
            std::string::npos)
      << r.output;
}

// apply on a running cluster: the difference shown, crm_verify first, then
// only what changed is touched; an operator's move and foreign properties
// stay.
TEST_F(Render, ApplyChangesOnlyWhatChanged) {
  std::string config = dir_.path() + "/ehabus.ini";
  std::filesystem::copy_file(Example("two-node-sbd"), config);
  auto [cib, active] = StartedCluster(config);
  // Before ehabus: a configuration from another tool with its own property
  // set and an operator's move.
  ASSERT_EQ(RunWith(cib, {"crm_attribute", "--type", "crm_config", "--name",
                          "cluster-infrastructure", "--update", "corosync"})
                .exit_code(),
            0);
  ASSERT_EQ(RunWith(cib, {"cibadmin", "--create", "--scope", "constraints",
                          "--xml-text",
                          "<rsc_location id=\"cli-prefer-mail\" rsc=\"mail\" "
                          "node=\"" +
                              active + "\" score=\"INFINITY\"/>"})
                .exit_code(),
            0);
  auto first = Cli(config, {"cluster", "apply"}, cib);
  ASSERT_EQ(first.exit_code(), 0) << first.output;
  EXPECT_NE(first.output.find("+"), std::string::npos);  // the config blob
  auto again = Cli(config, {"cluster", "apply"}, cib);
  EXPECT_EQ(again.exit_code(), 0);
  EXPECT_NE(again.output.find("nothing to apply"), std::string::npos)
      << again.output;

  // A change to the stack's monitor only: nothing stops or moves.
  std::ofstream(config, std::ios::app) << "[stack]\nmonitor_interval = 15s\n";
  auto dry = Cli(config, {"cluster", "apply", "--dry-run"}, cib);
  EXPECT_EQ(dry.exit_code(), 0) << dry.output;
  EXPECT_NE(dry.output.find("+          <op id=\"mailstack-monitor-15s\""),
            std::string::npos)
      << dry.output;
  // The stored configuration shows as its size, not as base64.
  EXPECT_NE(dry.output.find("name=\"ehabus-config\" value=\"("),
            std::string::npos)
      << dry.output;
  EXPECT_NE(dry.output.find("nothing applied"), std::string::npos);
  auto change = Cli(config, {"cluster", "apply"}, cib);
  ASSERT_EQ(change.exit_code(), 0) << change.output;
  auto out = Simulate(cib, "after.xml");
  auto summary = Section(out, "Transition Summary");
  EXPECT_FALSE(Has(summary, "Stop|Restart|Move|Start")) << out;
  EXPECT_TRUE(Has(Section(out, "Executing Cluster Transition"),
                  "mailstack\\s+monitor=15000 on " + active))
      << out;
  std::string after = Slurp(cib);
  EXPECT_NE(after.find("cli-prefer-mail"), std::string::npos);
  EXPECT_NE(after.find("name=\"cluster-infrastructure\""), std::string::npos);

  // A configuration crm_verify rejects (the stack's id is the group's) is
  // not applied.
  std::string before = Slurp(cib);
  std::ofstream(dir_.path() + "/broken.ini")
      << Slurp(Example("two-node-sbd")) << "[stack]\nresource = mail\n";
  auto broken = Cli(dir_.path() + "/broken.ini", {"cluster", "apply"}, cib);
  EXPECT_EQ(broken.exit_code(), 1) << broken.output;
  EXPECT_NE(broken.output.find("crm_verify rejects"), std::string::npos)
      << broken.output;
  EXPECT_EQ(Slurp(cib), before);
}

// One configuration for the cluster: apply stores it in the CIB, sync on
// another node takes it; a node that differs is flagged.
TEST_F(Render, SyncTakesTheClusterConfiguration) {
  auto [cib, active] = StartedCluster();
  et::TempDir node1, node2;
  std::string one = node1.Write("ehabus.ini", Slurp(Example("two-node-sbd")));
  node1.Write("conf.d/10-local.ini", "[log]\nlevel = debug\n");
  std::string two = node2.Write(
      "ehabus.ini", Slurp(Example("two-node-sbd")) + "[ping]\ndampen = 9s\n");
  ASSERT_EQ(Cli(one, {"cluster", "apply"}, cib).exit_code(), 0);
  auto sync = Cli(two, {"cluster", "sync"}, cib);
  ASSERT_EQ(sync.exit_code(), 0) << sync.output;
  EXPECT_NE(sync.output.find("ehabus.ini updated from the CIB"),
            std::string::npos)
      << sync.output;
  EXPECT_EQ(Slurp(two), Slurp(one));
  EXPECT_EQ(Slurp(node2.path() + "/conf.d/10-local.ini"),
            "[log]\nlevel = debug\n");
  auto same = Cli(two, {"cluster", "sync"}, cib);
  EXPECT_NE(same.output.find("configuration is the cluster's"),
            std::string::npos)
      << same.output;

  // A damaged value in the CIB writes nothing.
  ASSERT_EQ(RunWith(cib, {"crm_attribute", "--type", "crm_config", "--set-name",
                          "ehabus-config", "--name", "ehabus-config",
                          "--update", "!!notbase64"})
                .exit_code(),
            0);
  std::string kept = Slurp(two);
  auto bad = Cli(two, {"cluster", "sync"}, cib);
  EXPECT_EQ(bad.exit_code(), 1);
  EXPECT_NE(bad.output.find("CIB property ehabus-config: not base64"),
            std::string::npos)
      << bad.output;
  EXPECT_EQ(Slurp(two), kept);
}

TEST_F(Render, StatusFlagsANodeWhoseConfigurationDiffers) {
  et::BusFixture bus;
  bus.StartBroker();
  auto [cib, active] = StartedCluster();
  std::string config = bus.config_path();
  std::string text = Slurp(config) + Slurp(Example("two-node-sbd"));
  std::ofstream(config, std::ios::trunc) << text;
  ASSERT_EQ(Cli(config, {"cluster", "apply"}, cib).exit_code(), 0);
  auto ok = Cli(config, {"status"}, cib);
  EXPECT_NE(ok.output.find("this node has it"), std::string::npos) << ok.output;
  std::ofstream(config, std::ios::app) << "[ping]\ndampen = 7s\n";
  auto differs = Cli(config, {"status"}, cib);
  EXPECT_NE(differs.output.find("THIS NODE DIFFERS"), std::string::npos)
      << differs.output;
}

}  // namespace
