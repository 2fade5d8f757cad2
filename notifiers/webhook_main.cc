// ehabus-notify-webhook: an HTTP(S) POST of each incident's JSON.
#include <spdlog/spdlog.h>

#include "common/daemon.h"
#include "common/log.h"
#include "notifiers/notifier.h"

namespace {

int Main(int argc, char** argv) {
  ehabus::InitLogging("notify-webhook");
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-notify-webhook [--config FILE]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("notify-webhook", *config);
  const char* s = "notify.webhook";
  std::string url = config->String(s, "url");
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    auto at = config->Where(s, "url");
    std::fprintf(stderr,
                 "%s:%d: [notify.webhook] url: expected http:// or https://, "
                 "got \"%s\"\n",
                 at ? at->file.c_str() : config_path->c_str(),
                 at ? at->line : 0, url.c_str());
    return ehabus::kExitConfig;
  }
  std::vector<std::string> headers;
  for (const auto& h : config->List(s, "headers")) headers.push_back(h);
  const auto& stop = ehabus::InstallStopSignals();
  return ehabus::notifiers::RunNotifier(
      "webhook", *config,
      std::make_unique<ehabus::notifiers::WebhookChannel>(
          url, headers, config->Duration(s, "timeout"),
          config->Bool(s, "verify_tls")),
      stop);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("notify-webhook failed: {}", e.what());
    return 1;
  }
}
