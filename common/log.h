// Logging for every ehabus process: spdlog to journald when systemd started
// us (JOURNAL_STREAM names our stderr), else to stderr.
#pragma once

#include <string_view>

namespace ehabus {

class Config;

// Sets spdlog's default logger from [log] (level, target).
void InitLogging(std::string_view component, const Config& config);
// Before the configuration is read: stderr at info.
void InitLogging(std::string_view component);

}  // namespace ehabus
