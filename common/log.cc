#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/config.h"

namespace ehabus {
namespace {

// systemd sets JOURNAL_STREAM=DEV:INODE of the stream it gave us.
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return std::string(stream) ==
         std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

void Install(std::string_view component, bool journald) {
  std::shared_ptr<spdlog::logger> logger;
  if (journald) {
    logger = std::make_shared<spdlog::logger>(
        std::string(component),
        std::make_shared<spdlog::sinks::systemd_sink_mt>(
            std::string(component)));
    logger->set_pattern("%v");
  } else {
    logger = spdlog::stderr_color_mt(std::string(component) + "-stderr");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e " + std::string(component) +
                        "[%P] %^%l%$: %v");
  }
  spdlog::set_default_logger(logger);
}

}  // namespace

void InitLogging(std::string_view component) {
  spdlog::drop_all();
  Install(component, false);
}

void InitLogging(std::string_view component, const Config& config) {
  spdlog::drop_all();
  auto target = config.String("log", "target");
  Install(component,
          target == "journald" || (target == "auto" && StderrIsJournal()));
  spdlog::set_level(spdlog::level::from_str(config.String("log", "level")));
}

}  // namespace ehabus
