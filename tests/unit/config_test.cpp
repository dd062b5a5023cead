// The agent's configuration loader: RPort compatibility, validation, errors
// that name the key and line.

#include "stocktake/config/config.hpp"
#include "support/fixtures.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>

using namespace stocktake;
using namespace std::chrono_literals;

namespace {

std::string error_of(std::string_view text) {
    config c;
    std::string err;
    BOOST_TEST(!parse_config(text, "test.conf", c, err));
    return err;
}

config ok(std::string_view text) {
    config c;
    std::string err;
    BOOST_TEST_REQUIRE(parse_config(text, "test.conf", c, err), err);
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(agent_config)

BOOST_AUTO_TEST_CASE(defaults) {
    config c = ok("");
    BOOST_TEST(!c.client.server.has_value());
    BOOST_TEST((c.client.inventory_interval == 4h));
    BOOST_TEST(c.client.data_dir == "/var/lib/stocktake");
    BOOST_TEST(c.inventory.all_containers);
    BOOST_TEST(c.inventory.dpkg_admindir == "/var/lib/dpkg");
    BOOST_TEST(c.control.socket == "/run/stocktake/stocktake.sock");
}

BOOST_AUTO_TEST_CASE(the_spec_example) {
    config c = ok(R"([client]
server = "https://inventory.example.net:8443"
auth = "web-01:secret"
id = "web-01"
name = "web-01"
inventory_interval = '4h'
data_dir = "/var/lib/stocktake"

[inventory]
containers = "running"
docker_host = "unix:///var/run/docker.sock"
dpkg_admindir = "/var/lib/dpkg"

[control]
socket = "/run/stocktake/stocktake.sock"
)");
    BOOST_TEST(*c.client.server == "https://inventory.example.net:8443");
    BOOST_TEST(*c.client.auth == "web-01:secret");
    BOOST_TEST(c.client.id == "web-01");
    BOOST_TEST(!c.inventory.all_containers);
    BOOST_TEST(*c.inventory.docker_host == "unix:///var/run/docker.sock");
}

BOOST_AUTO_TEST_CASE(a_real_rport_conf_loads) {
    // Shaped after RPort's rport.example.conf: its other sections and
    // [client] keys are accepted and ignored.
    config c = ok(R"(
[client]
  server = "rport.example.com:8080"
  fallback_server = ["rport2.example.com:8080"]
  server_switchback_interval = "2m"
  auth = "clientAuth1:1234"
  fingerprint = "36:98:56:12:f3:dc:e5:8d:ac:96:48:23:b6:f0:42:15"
  id = "my-client-1234"
  name = "My Test VM"
  tags = ["win", "server", "vm"]
  labels = { "city" = "Berlin", "datacenter" = "NY" }
  allow_root = false
  data_dir = "/var/lib/rport"
  updates_interval = '4h'
  inventory_interval = '1h30m'
  remotes = ['3000', '8080:127.0.0.1:80']

[connection]
  keep_alive = '180s'
  max_retry_count = -1

[logging]
  log_file = "/var/log/rport/rport.log"
  log_level = "error"

[remote-commands]
  enabled = true
  order = ['allow','deny']

[remote-scripts]
  enabled = false

[monitoring]
  enabled = true
  interval = '60s'

[file-reception]
  enabled = true

[interpreter-aliases]
  pwsh7 = 'C:\Program Files\PowerShell\7\pwsh.exe'
)");
    BOOST_TEST(*c.client.server == "https://rport.example.com:8080");  // RPort's host:port form
    BOOST_TEST(c.client.id == "my-client-1234");
    BOOST_TEST(c.client.name == "My Test VM");
    BOOST_TEST((c.client.inventory_interval == 90min));
    BOOST_TEST(c.client.data_dir == "/var/lib/rport");
}

BOOST_AUTO_TEST_CASE(durations) {
    BOOST_TEST((parse_duration("4h") == std::chrono::milliseconds{4h}));
    BOOST_TEST((parse_duration("30m") == std::chrono::milliseconds{30min}));
    BOOST_TEST((parse_duration("90s") == std::chrono::milliseconds{90s}));
    BOOST_TEST((parse_duration("1h30m15s") == std::chrono::milliseconds{1h + 30min + 15s}));
    BOOST_TEST((parse_duration("250ms") == std::chrono::milliseconds{250}));
    BOOST_TEST((parse_duration("0") == std::chrono::milliseconds{0}));
    for (std::string_view bad : {"", "h", "4", "4d", "-1h", "4 h", "1.5h", "99999999999999h"}) BOOST_TEST(!parse_duration(bad), bad);
    BOOST_TEST((ok("[client]\ninventory_interval = '0'\n").client.inventory_interval == 0s));
    BOOST_TEST((ok("[client]\ninventory_interval = 3600\n").client.inventory_interval == 1h));
}

BOOST_AUTO_TEST_CASE(errors_name_key_and_line) {
    auto e = error_of("[inventory]\ncontainers = \"all\"\ncontainer = \"all\"\n");
    BOOST_TEST(e.find("test.conf:3:") == 0u, e);
    BOOST_TEST(e.find("inventory.container: unknown key") != std::string::npos, e);

    e = error_of("[client]\n\ninventory_interval = '4 days'\n");
    BOOST_TEST(e.find("test.conf:3:") == 0u, e);
    BOOST_TEST(e.find("client.inventory_interval") != std::string::npos, e);

    e = error_of("[inventory]\ncontainers = \"some\"\n");
    BOOST_TEST(e.find("test.conf:2:") == 0u, e);
    BOOST_TEST(e.find("\"all\" nor \"running\"") != std::string::npos, e);

    e = error_of("[client]\nid = 42\n");
    BOOST_TEST(e.find("client.id: expected a string") != std::string::npos, e);

    e = error_of("[control]\nsocket = \"/x\"\npath = \"/y\"\n");
    BOOST_TEST(e.find("control.path: unknown key") != std::string::npos, e);

#ifndef _WIN32
    e = error_of("[control]\nsocket = \"run/stocktake.sock\"\n");
    BOOST_TEST(e.find("control.socket: must be an absolute path") != std::string::npos, e);
#endif

    e = error_of("[inventroy]\ncontainers = \"all\"\n");
    BOOST_TEST(e.find("inventroy: unknown section") != std::string::npos, e);

    e = error_of("[client]\nserver = \"ftp://x\"\n");
    BOOST_TEST(e.find("client.server") != std::string::npos, e);

    e = error_of("[client]\nauth = \"no-colon\"\n");
    BOOST_TEST(e.find("client.auth") != std::string::npos, e);

    e = error_of("[inventory]\ndocker_host = \"ssh://host\"\n");
    BOOST_TEST(e.find("inventory.docker_host") != std::string::npos, e);

    e = error_of("[client]\ninventory_interval = '5s'\n");
    BOOST_TEST(e.find("at least 10s") != std::string::npos, e);

    e = error_of("[client]\ndata_dir = \"relative/dir\"\n");
    BOOST_TEST(e.find("absolute") != std::string::npos, e);

    e = error_of("[inventory]\nsources = [\"dpkg\", \"rpm\"]\n");
    BOOST_TEST(e.find("rpm") != std::string::npos, e);
}

BOOST_AUTO_TEST_CASE(malformed_toml_names_the_line) {
    auto e = error_of("[client]\nid = \"a\"\nname = \n");
    BOOST_TEST(e.find("test.conf:3:") == 0u, e);
}

BOOST_AUTO_TEST_CASE(files_and_environment) {
    stocktake::test::temp_dir dir;
    config c;
    std::string err;
    BOOST_TEST(!load_config_file((dir / "missing.conf").string(), c, err));
    BOOST_TEST(err.find("missing.conf") != std::string::npos);
    stocktake::test::write_text(dir / "a.conf", "[client]\nid = \"from-file\"\n");
    BOOST_TEST(load_config_file((dir / "a.conf").string(), c, err), err);
    BOOST_TEST(c.client.id == "from-file");
    BOOST_TEST(c.path == (dir / "a.conf").string());

    ::unsetenv("STOCKTAKE_CONFIG");
    auto loc = locate_config(std::nullopt);
    BOOST_TEST(loc.path == std::string(default_config_path));
    BOOST_TEST(!loc.required);
    ::setenv("STOCKTAKE_CONFIG", "/tmp/x.conf", 1);
    loc = locate_config(std::nullopt);
    BOOST_TEST(loc.path == "/tmp/x.conf");
    BOOST_TEST(loc.required);
    loc = locate_config(std::string("/cli.conf"));
    BOOST_TEST(loc.path == "/cli.conf");
    ::unsetenv("STOCKTAKE_CONFIG");

    ::setenv("STOCKTAKE_AUTH", "env-id:env-pass", 1);
    config d;
    BOOST_TEST(apply_defaults(d, err), err);
    BOOST_TEST(*d.client.auth == "env-id:env-pass");
    BOOST_TEST(!d.client.name.empty());  // the host name
    ::setenv("STOCKTAKE_AUTH", "nocolon", 1);
    BOOST_TEST(!apply_defaults(d, err));
    BOOST_TEST(err.find("STOCKTAKE_AUTH") != std::string::npos);
    ::unsetenv("STOCKTAKE_AUTH");
}

BOOST_AUTO_TEST_SUITE_END()
