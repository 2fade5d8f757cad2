#include "notifiers/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/files.h"

namespace ehabus::notifiers {
namespace {

bool SafeId(const std::string& id) {
  return !id.empty() && id.size() < 200 &&
         std::all_of(id.begin(), id.end(),
                     [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) ||
                              c == '-' || c == '_' || c == '.';
                     }) &&
         id[0] != '.';
}

}  // namespace

Result<void> Spool::Init() const {
  std::error_code ec;
  std::filesystem::create_directories(dir_ + "/failed", ec);
  if (ec) return ehabus::Fail(dir_ + ": " + ec.message());
  chmod(dir_.c_str(), 0700);
  return {};
}

Result<void> Spool::Put(const SpoolEntry& entry) const {
  if (!SafeId(entry.id)) return ehabus::Fail("bad spool id " + entry.id);
  nlohmann::json j = {{"id", entry.id},
                      {"notice", entry.notice},
                      {"attempts", entry.attempts},
                      {"next_attempt_us", entry.next_attempt_us},
                      {"last_error", entry.last_error},
                      {"spooled_us", entry.spooled_us}};
  std::string text = j.dump() + "\n";
  std::string path = dir_ + "/" + entry.id + ".json";
  // Synced, and the directory too: the rename must survive a crash.
  return WriteFileAtomic(path, text, {.mode = 0600, .sync = true});
}

std::vector<SpoolEntry> Spool::List(std::vector<std::string>* errors) const {
  std::vector<SpoolEntry> out;
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = file.path().filename();
    if (!name.ends_with(".json") || name.starts_with(".")) continue;
    std::ifstream in(file.path());
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id") ||
        !j["id"].is_string() || !j.contains("notice")) {
      if (errors) errors->push_back(file.path().string() + ": unreadable");
      std::filesystem::rename(file.path(), file.path().string() + ".bad", ec);
      continue;
    }
    SpoolEntry e;
    e.id = j["id"];
    e.notice = j["notice"];
    e.attempts = j.value("attempts", 0);
    e.next_attempt_us = j.value("next_attempt_us", std::int64_t{0});
    e.last_error = j.value("last_error", "");
    e.spooled_us = j.value("spooled_us", std::int64_t{0});
    out.push_back(std::move(e));
  }
  std::sort(
      out.begin(), out.end(),
      [](const SpoolEntry& a, const SpoolEntry& b) { return a.id < b.id; });
  return out;
}

void Spool::Remove(const std::string& id) const {
  if (SafeId(id)) unlink((dir_ + "/" + id + ".json").c_str());
}

void Spool::Fail(const std::string& id) const {
  if (!SafeId(id)) return;
  rename((dir_ + "/" + id + ".json").c_str(),
         (dir_ + "/failed/" + id + ".json").c_str());
}

}  // namespace ehabus::notifiers
