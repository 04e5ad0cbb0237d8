// The project's one atomic writer, CSV dialect, TOML reader and --set override, on hand-made inputs.
#include "muelab/io/atomic_file.hpp"
#include "muelab/io/csv.hpp"
#include "muelab/io/input_error.hpp"
#include "muelab/io/toml_document.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace muelab;

TEST_CASE("CSV cells: quoting round-trips commas, quotes and empty cells", "[io][csv]") {
  CHECK(io::quote_csv_cell("plain") == "plain");
  CHECK(io::quote_csv_cell("a,b") == "\"a,b\"");
  CHECK(io::quote_csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
  const std::vector<std::string> cells = {"1", "a,b", "", "say \"hi\"", "\"sp\""};
  std::string line;
  for (const auto& c : cells) line += (line.empty() ? "" : ",") + io::quote_csv_cell(c);
  CHECK(line == "1,\"a,b\",,\"say \"\"hi\"\"\",\"\"\"sp\"\"\"");
  CHECK(io::split_csv_line(line) == cells);
  CHECK(io::split_csv_line("x,y\r") == std::vector<std::string>{"x", "y"});
}

TEST_CASE("read_csv: whole files, and one-line errors naming the file and the line", "[io][csv]") {
  const auto dir = std::filesystem::path(MUELAB_BINARY_DIR) / "test_io";
  std::filesystem::create_directories(dir);
  io::write_file_atomically(dir / "ok.csv", "a,b\n1,\"x,y\"\n\n2,z\n");
  const auto doc = io::read_csv(dir / "ok.csv");
  CHECK(doc.header == std::vector<std::string>{"a", "b"});
  REQUIRE(doc.rows.size() == 2);
  CHECK(doc.rows[0][doc.column("b")] == "x,y");
  CHECK_THROWS_AS(doc.column("c"), io::InputError);
  io::write_file_atomically(dir / "ragged.csv", "a,b\n1,2\n3\n");
  CHECK_THROWS_WITH(io::read_csv(dir / "ragged.csv"), Catch::Contains("(line 3)") && Catch::Contains("1 cells"));
  CHECK_THROWS_WITH(io::read_csv(dir / "missing.csv"), Catch::Contains("cannot read"));
}

TEST_CASE("parse_csv: quoted cells keep newlines and carriage returns, and a broken quote is an error",
          "[io][csv]") {
  // Every cell the writer emits reads back unchanged, newlines included (found while writing fuzz_csv's
  // round-trip property: the line-by-line reader split a quoted newline into two records).
  const std::vector<std::string> cells = {"multi\nline", "cr\rinside", "", "\"", "a,b\r\n"};
  std::string text = "h1,h2,h3,h4,h5\n";
  for (std::size_t i = 0; i < cells.size(); ++i) text += (i ? "," : "") + io::quote_csv_cell(cells[i]);
  text += "\r\n";
  const auto doc = io::parse_csv(text, "mem.csv");
  REQUIRE(doc.rows.size() == 1);
  CHECK(doc.rows[0] == cells);
  CHECK_THROWS_WITH(io::parse_csv("a,b\n1,\"open\n", "mem.csv"),
                    Catch::Contains("mem.csv") && Catch::Contains("(line 2)") && Catch::Contains("unterminated"));
  CHECK_THROWS_WITH(io::parse_csv("\n\n", "mem.csv"), Catch::Contains("empty file"));
}

TEST_CASE("write_file_atomically replaces the file whole and leaves no temporary behind", "[io]") {
  const auto dir = std::filesystem::path(MUELAB_BINARY_DIR) / "test_io_atomic" / "nested";
  std::filesystem::remove_all(dir.parent_path());
  io::write_file_atomically(dir / "f.txt", "first");
  io::write_file_atomically(dir / "f.txt", "second");
  std::ifstream in(dir / "f.txt");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "second");
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  CHECK(files == 1);
}

TEST_CASE("TOML documents: syntax errors name the line and column", "[io][toml]") {
  const auto root = io::parse_toml_document("[model]\nd_model = 64\n", "cfg.toml");
  CHECK(root["model"]["d_model"].value<std::int64_t>() == 64);
  try {
    (void)io::parse_toml_document("[model\n", "bad.toml");
    FAIL("no error");
  } catch (const io::InputError& e) {
    CHECK(e.field() == "(syntax)");
    CHECK_THAT(e.source(), Catch::StartsWith("bad.toml:1:"));
  }
}

TEST_CASE("set overrides (table.key=value): TOML values, bare strings, and clean errors", "[io][toml]") {
  auto root = io::parse_toml_document("[model]\nd_model = 64\n", "cfg.toml");
  io::apply_set_override(root, "model.d_model=128", "cfg.toml", {"model", "train"});
  io::apply_set_override(root, "model.router=softmax", "cfg.toml", {"model", "train"});
  io::apply_set_override(root, "train.lr=3e-3", "cfg.toml", {"model", "train"});
  io::apply_set_override(root, "train.tags=[1, 2]", "cfg.toml", {"model", "train"});
  CHECK(root["model"]["d_model"].value<std::int64_t>() == 128);
  CHECK(root["model"]["router"].value<std::string>() == "softmax");
  CHECK(root["train"]["lr"].value<double>() == Approx(3e-3));
  CHECK(root["train"]["tags"].as_array()->size() == 2);
  CHECK_THROWS_WITH(io::apply_set_override(root, "optim.lr=1", "cfg.toml", {"model", "train"}),
                    Catch::Contains("unknown table \"optim\"") && Catch::Contains("model, train"));
  CHECK_THROWS_WITH(io::apply_set_override(root, "lr=1", "cfg.toml", {}), Catch::Contains("table.key"));
  CHECK_THROWS_WITH(io::apply_set_override(root, "=1", "cfg.toml", {}), Catch::Contains("table.key=value"));
  CHECK_THROWS_WITH(io::apply_set_override(root, "model.d_model.x=1", "cfg.toml", {}), Catch::Contains("table.key"));
  io::apply_set_override(root, "anything.k=1", "cfg.toml", {});  // empty list: any table
  CHECK(root["anything"]["k"].value<std::int64_t>() == 1);
}
