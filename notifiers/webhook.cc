#include <curl/curl.h>

#include <mutex>

#include "notifiers/notifier.h"

namespace ehabus::notifiers {
namespace {

std::once_flag g_curl_init;

std::size_t Collect(char* data, std::size_t size, std::size_t n, void* out) {
  auto* text = static_cast<std::string*>(out);
  std::size_t bytes = size * n;
  if (text->size() < 512) text->append(data, std::min<std::size_t>(bytes, 512));
  return bytes;
}

}  // namespace

WebhookChannel::WebhookChannel(std::string url,
                               std::vector<std::string> headers,
                               std::chrono::milliseconds timeout,
                               bool verify_tls)
    : url_(std::move(url)),
      headers_(std::move(headers)),
      timeout_(timeout),
      verify_tls_(verify_tls) {}

SendResult WebhookChannel::Deliver(const std::string& id,
                                   const nlohmann::json& incident) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  SendResult result;
  CURL* curl = curl_easy_init();
  if (!curl) {
    result.detail = url_ + ": cannot create an HTTP client";
    return result;
  }
  std::string body = incident.dump();
  std::string reply;
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("X-Ehabus-Notice: " + id).c_str());
  for (const auto& h : headers_)
    headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify_tls_ ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify_tls_ ? 2L : 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) {
    result.detail = url_ + ": " + curl_easy_strerror(code);
    return result;  // temporary
  }
  std::string first = reply.substr(0, reply.find('\n'));
  result.detail = url_ + ": HTTP " + std::to_string(status);
  if (!first.empty()) result.detail.append(" ").append(Quote(first));
  result.ok = status >= 200 && status < 300;
  result.permanent = !result.ok && status >= 400 && status < 500 &&
                     status != 408 && status != 429;
  return result;
}

}  // namespace ehabus::notifiers
