#include "common/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/testing/bus_fixture.h"

namespace ehabus {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Errors(
    const tl::expected<Config, std::vector<ConfigError>>& result) {
  std::string text;
  if (result) return text;
  for (const auto& e : result.error()) text += e.ToString() + "\n";
  return text;
}

// Every NAME.ini in the corpus gives exactly the lines in NAME.expected.
TEST(ConfigTest, GoldenCorpusOfBadFiles) {
  std::string dir =
      std::string(EHABUS_SOURCE_DIR) + "/tests/common/config_corpus";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".ini") continue;
    ++files;
    std::string name = entry.path().filename();
    std::string expected = Slurp(
        entry.path().string().substr(0, entry.path().string().size() - 4) +
        ".expected");
    auto result = Config::LoadText(Slurp(entry.path()), name);
    EXPECT_EQ(Errors(result), expected) << "in " << name;
    EXPECT_EQ(result.has_value(), expected.empty()) << name;
  }
  EXPECT_GE(files, 8);
}

TEST(ConfigTest, ValuesAndDefaults) {
  auto config = Config::LoadText(
      "[bus]\nsubscriber_hwm = 1000\nsnapshot_timeout = 500ms\npub_mode = "
      "0640\n"
      "[bus.remote]\nenabled = on\n",
      "t.ini");
  ASSERT_TRUE(config) << Errors(config);
  EXPECT_EQ(config->Int("bus", "subscriber_hwm"), 1000);
  EXPECT_EQ(config->Int("bus", "publisher_hwm"), 100000);  // default
  EXPECT_EQ(config->Duration("bus", "snapshot_timeout"),
            std::chrono::milliseconds(500));
  EXPECT_EQ(config->Mode("bus", "pub_mode"), 0640u);
  EXPECT_TRUE(config->Bool("bus.remote", "enabled"));
  EXPECT_EQ(config->String("bus", "pub_endpoint"),
            "ipc:///run/ehabus/pub.sock");
  auto where = config->Where("bus", "pub_mode");
  ASSERT_TRUE(where);
  EXPECT_EQ(where->file, "t.ini");
  EXPECT_EQ(where->line, 4);
  EXPECT_FALSE(config->Where("bus", "group"));
}

TEST(ConfigTest, ConfDOverridesInNameOrderAndReportsItsOwnFiles) {
  testing::TempDir dir;
  dir.Write("ehabus.ini", "[log]\nlevel = info\n[bus]\ngroup = mail\n");
  dir.Write("conf.d/20-node.ini", "[log]\nlevel = debug\n");
  dir.Write("conf.d/10-first.ini", "[log]\nlevel = warn\n");
  dir.Write("conf.d/ignored.txt", "not ini at all\n");
  auto config = Config::Load(dir.path() + "/ehabus.ini");
  ASSERT_TRUE(config) << Errors(config);
  EXPECT_EQ(config->String("log", "level"), "debug");
  EXPECT_EQ(config->String("bus", "group"), "mail");
  EXPECT_EQ(config->Where("log", "level")->file,
            dir.path() + "/conf.d/20-node.ini");

  dir.Write("conf.d/30-bad.ini", "[log]\nlevel = loud\n");
  dir.Write("ehabus.ini", "[log]\nlevel = info\n[bogus]\n");
  auto bad = Config::Load(dir.path() + "/ehabus.ini");
  EXPECT_EQ(
      Errors(bad),
      dir.path() + "/ehabus.ini:3: [bogus]: unknown section\n" + dir.path() +
          "/conf.d/30-bad.ini:2: [log] level: expected one of trace, debug, "
          "info, warn, error, critical, off, got \"loud\"\n");
}

TEST(ConfigTest, MissingFileIsOneClearError) {
  auto config = Config::Load("/nonexistent/ehabus.ini");
  EXPECT_EQ(
      Errors(config),
      "/nonexistent/ehabus.ini: cannot open: No such file or directory\n");
}

TEST(ConfigTest, EveryDefaultInTheSchemaIsValid) {
  for (const auto& section : FullSchema()) {
    std::string name(section.name);
    if (name.ends_with(".*")) name = name.substr(0, name.size() - 1) + "x";
    std::string text = "[" + name + "]\n";
    for (const auto& key : section.keys) {
      if (!key.default_value.empty()) {
        text += std::string(key.name) + " = " + std::string(key.default_value) +
                "\n";
      } else if (key.required) {  // a sample value of its type
        text += std::string(key.name) +
                (key.type == ValueType::kPath ? " = /x\n" : " = x\n");
      }
    }
    auto config = Config::LoadText(text, "defaults.ini");
    EXPECT_TRUE(config) << Errors(config);
  }
}

TEST(ConfigTest, StorageSectionNeedsDeviceAndMountpoint) {
  auto config = Config::LoadText(
      "[storage.mail]\nfstype = ext4\n"
      "mountpoint = srv/mail\n",
      "ehabus.ini");
  ASSERT_FALSE(config);
  EXPECT_EQ(Errors(config),
            "ehabus.ini:1: [storage.mail] device: required key missing\n"
            "ehabus.ini:3: [storage.mail] mountpoint: expected an absolute "
            "path, got \"srv/mail\"\n");
}

// etc/ehabus.ini documents every key with its default; keep it in step.
TEST(ConfigTest, ShippedConfigIsValidAndDocumentsEveryKey) {
  std::string path = std::string(EHABUS_SOURCE_DIR) + "/etc/ehabus.ini";
  auto config = Config::Load(path);
  ASSERT_TRUE(config) << Errors(config);
  std::string text = Slurp(path);
  for (const auto& section : FullSchema()) {
    if (std::string_view(section.name).ends_with(".*")) continue;
    EXPECT_NE(text.find("[" + std::string(section.name) + "]"),
              std::string::npos)
        << section.name;
    for (const auto& key : section.keys) {
      std::string line = ";" + std::string(key.name) + " =";
      if (!key.default_value.empty())
        line += " " + std::string(key.default_value);
      EXPECT_NE(text.find(line), std::string::npos)
          << "etc/ehabus.ini lacks \"" << line << "\" in [" << section.name
          << "]";
    }
  }
}

TEST(ConfigTest, DurationsAndBooleans) {
  EXPECT_EQ(ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(ParseDuration("10s"), std::chrono::milliseconds(10000));
  EXPECT_EQ(ParseDuration("5m"), std::chrono::milliseconds(300000));
  EXPECT_EQ(ParseDuration("2h"), std::chrono::milliseconds(7200000));
  EXPECT_FALSE(ParseDuration("10"));
  EXPECT_FALSE(ParseDuration("s"));
  EXPECT_FALSE(ParseDuration("-1s"));
  EXPECT_FALSE(ParseDuration("1.5s"));
  EXPECT_FALSE(ParseDuration("9999999999999s"));
  EXPECT_EQ(ParseBool("yes"), true);
  EXPECT_EQ(ParseBool("off"), false);
  EXPECT_FALSE(ParseBool("Yes please"));
}

}  // namespace
}  // namespace ehabus
