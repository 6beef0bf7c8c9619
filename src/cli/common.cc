#include "cli/common.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "base/error.h"
#include "cli/output.h"

namespace keel::cli {

namespace json = boost::json;

std::string DefaultServerUrl() {
  const char* env = std::getenv("KEEL_SERVER");
  if (env != nullptr && *env != '\0') return env;
  return "http://127.0.0.1:8080";
}

void AddClientOptions(CLI::App* command, ClientOptions* options) {
  command->add_option("--server", options->server, "Server URL (env KEEL_SERVER)")
      ->capture_default_str();
  command->add_flag("--json", options->json, "Print the server's JSON response");
}

int UsageError(std::string_view what) {
  std::cerr << "error: " << what << "\n";
  return kExitUsage;
}

std::optional<client::HttpClient> MakeClient(const ClientOptions& options, int64_t timeout_ms) {
  auto client = client::HttpClient::FromUrl(options.server, timeout_ms);
  if (!client.ok()) {
    UsageError("--server: " + client.error().message);
    return std::nullopt;
  }
  return std::move(client).value();
}

std::optional<client::Response> Call(client::HttpClient& client, std::string_view method,
                                     const std::string& target, const std::string& body) {
  auto response = client.Request(method, target, body);
  if (!response.ok()) {
    std::cerr << "error: " << ErrcName(response.error().code) << ": " << response.error().message
              << "\n";
    return std::nullopt;
  }
  if (response->status < 200 || response->status > 299) {
    std::cerr << ServerErrorLine(response->status, response->body) << "\n";
    return std::nullopt;
  }
  return std::move(response).value();
}

std::optional<json::object> ResponseObject(const client::Response& response) {
  std::string error;
  std::optional<json::value> v = ParseJson(response.body, &error);
  if (!v || !v->is_object()) {
    std::cerr << "error: internal: the server's response is not a JSON object"
              << (error.empty() ? "" : ": " + error) << "\n";
    return std::nullopt;
  }
  return std::move(v->get_object());
}

std::optional<json::value> ParseJsonFlag(std::string_view flag, std::string_view text) {
  std::string error;
  std::optional<json::value> v = ParseJson(text, &error, 64);
  if (!v) UsageError(std::string(flag) + " is not valid JSON: " + error);
  return v;
}

void PrintRaw(const std::string& body) {
  std::cout << body;
  if (body.empty() || body.back() != '\n') std::cout << "\n";
  std::cout.flush();
}

std::string RunPath(std::string_view run_id) { return "/v1/runs/" + client::UrlEncode(run_id); }

}  // namespace keel::cli
