//! The page builder: a title, sections of charts, key-value summaries,
//! sortable tables and notes, rendered into one self-contained HTML file.
//!
//! The page carries its own style and a small script (click a column's
//! header to sort by it; click again to reverse). It references nothing
//! outside itself, so it opens from disk, offline, and can be mailed.

use std::fmt::Write as _;
use std::path::Path;

use ticktape_tape::AtomicFile;

use crate::chart::{Svg, escape_into};
use crate::error::Result;

/// One cell of a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text, sorted as text.
    Text(String),
    /// A number: sorted by its value, shown as its text. `None` (an
    /// undefined value) is shown as "–" and sorts last.
    Number(Option<f64>, String),
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// A number shown with about `digits` significant digits; non-finite
    /// values are undefined.
    pub fn number(v: f64, digits: usize) -> Cell {
        if v.is_finite() {
            let s = crate::chart::significant(v, digits);
            // "0.00900000" reads as "0.009".
            let s = if s.contains('.') && !s.contains('e') {
                s.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                s
            };
            Cell::Number(Some(v), s)
        } else {
            Cell::Number(None, "–".into())
        }
    }

    /// A count.
    pub fn count(n: u64) -> Cell {
        Cell::Number(Some(n as f64), n.to_string())
    }

    /// A fraction shown as a percentage; `None` when undefined.
    pub fn percent(v: Option<f64>) -> Cell {
        match v.filter(|v| v.is_finite()) {
            Some(v) => Cell::Number(Some(v), format!("{:.1}%", v * 100.0)),
            None => Cell::Number(None, "–".into()),
        }
    }
}

/// A table whose columns sort on click.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Table {
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
    /// Shown under the table when set, e.g. "first 1,000 of 52,000 rows".
    pub caption: Option<String>,
}

impl Table {
    /// An empty table with these headers.
    pub fn new(columns: &[&str]) -> Table {
        Table { columns: columns.iter().map(|c| (*c).to_owned()).collect(), rows: Vec::new(), caption: None }
    }
}

/// One item of a [`Section`].
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A chart.
    Chart(Svg),
    /// A sortable table.
    Table(Table),
    /// Name-value pairs, as a compact two-column table.
    KeyValue(Vec<(String, String)>),
    /// A paragraph of text (what a chart shows, how it is computed).
    Note(String),
}

/// A titled part of the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// The content, in order.
    pub blocks: Vec<Block>,
}

impl Section {
    /// An empty section.
    pub fn new(title: impl Into<String>) -> Section {
        Section { title: title.into(), blocks: Vec::new() }
    }

    /// The section with `block` appended.
    pub fn with(mut self, block: Block) -> Section {
        self.blocks.push(block);
        self
    }

    /// Appends `block`.
    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }
}

/// A report page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The page title (also the browser tab's).
    pub title: String,
    /// A line under the title, e.g. the source folder.
    pub subtitle: Option<String>,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;color:#222;background:#f6f7f9}
main{max-width:1160px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.6em;margin:.6em 0 .1em}
.sub{color:#666;margin:0 0 1em;font-family:ui-monospace,monospace;font-size:.9em}
nav{margin:0 0 1em;font-size:.95em}nav a{margin-right:1em;color:#1f5fa0;text-decoration:none}
section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:8px 16px 16px;margin:16px 0}
h2{font-size:1.2em;margin:.6em 0}
svg{display:block;max-width:100%;height:auto;margin:8px 0}
p.note{color:#555;font-size:.92em;margin:.4em 0 .8em}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}
th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none;background:#f0f2f5;position:sticky;top:0}
table.sortable th[aria-sort=ascending]::after{content:' \\25B2'}
table.sortable th[aria-sort=descending]::after{content:' \\25BC'}
table.kv th{font-weight:normal;color:#555;background:none}
.caption{color:#666;font-size:.85em}
";

/// Sorts a table by the clicked column: numbers by `data-v` (undefined
/// last), text by its content; a second click reverses.
const SCRIPT: &str = "
(function(){
  function key(td){var v=td.getAttribute('data-v');return v===null?td.textContent:(v===''?null:parseFloat(v));}
  function sortBy(table,col,th){
    var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
    var dir=th.getAttribute('aria-sort')==='ascending'?-1:1;
    rows.sort(function(a,b){
      var x=key(a.cells[col]),y=key(b.cells[col]);
      if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
      if(typeof x==='number'&&typeof y==='number')return dir*(x-y);
      return dir*String(x).localeCompare(String(y));
    });
    rows.forEach(function(r){body.appendChild(r);});
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',dir===1?'ascending':'descending');
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(table){
    Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,col){
      th.addEventListener('click',function(){sortBy(table,col,th);});
    });
  });
  document.body.setAttribute('data-ready','1');
})();
";

impl Page {
    /// An empty page.
    pub fn new(title: impl Into<String>) -> Page {
        Page { title: title.into(), subtitle: None, sections: Vec::new() }
    }

    /// Appends a section.
    pub fn push(&mut self, section: Section) {
        self.sections.push(section);
    }

    /// The page as one HTML document. The same page gives the same bytes.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(64 * 1024);
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
        escape_into(&mut h, &self.title);
        let _ = write!(h, "</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>");
        escape_into(&mut h, &self.title);
        h.push_str("</h1>\n");
        if let Some(sub) = &self.subtitle {
            h.push_str("<p class=\"sub\">");
            escape_into(&mut h, sub);
            h.push_str("</p>\n");
        }
        if self.sections.len() > 1 {
            h.push_str("<nav>");
            for (i, s) in self.sections.iter().enumerate() {
                let _ = write!(h, "<a href=\"#s{i}\">");
                escape_into(&mut h, &s.title);
                h.push_str("</a>");
            }
            h.push_str("</nav>\n");
        }
        for (i, s) in self.sections.iter().enumerate() {
            let _ = write!(h, "<section id=\"s{i}\">\n<h2>");
            escape_into(&mut h, &s.title);
            h.push_str("</h2>\n");
            for b in &s.blocks {
                block_html(&mut h, b);
            }
            h.push_str("</section>\n");
        }
        let _ = write!(h, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
        h
    }

    /// Writes the page to `path` (under a temporary name, renamed when
    /// complete).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut f = AtomicFile::create(path)?;
        f.write_all(self.to_html().as_bytes())?;
        f.commit()?;
        Ok(())
    }
}

fn block_html(h: &mut String, b: &Block) {
    match b {
        Block::Chart(svg) => {
            h.push_str(svg.as_str());
            h.push('\n');
        }
        Block::Note(text) => {
            h.push_str("<p class=\"note\">");
            escape_into(h, text);
            h.push_str("</p>\n");
        }
        Block::KeyValue(pairs) => {
            h.push_str("<table class=\"kv\">\n");
            for (k, v) in pairs {
                h.push_str("<tr><th>");
                escape_into(h, k);
                h.push_str("</th><td>");
                escape_into(h, v);
                h.push_str("</td></tr>\n");
            }
            h.push_str("</table>\n");
        }
        Block::Table(t) => table_html(h, t),
    }
}

fn table_html(h: &mut String, t: &Table) {
    h.push_str("<table class=\"sortable\">\n<thead><tr>");
    for c in &t.columns {
        h.push_str("<th>");
        escape_into(h, c);
        h.push_str("</th>");
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        h.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Text(s) => {
                    h.push_str("<td>");
                    escape_into(h, s);
                }
                Cell::Number(v, s) => {
                    // `{:?}` of an f64 round-trips exactly and parses in JS.
                    match v {
                        Some(v) => {
                            let _ = write!(h, "<td class=\"n\" data-v=\"{v:?}\">");
                        }
                        None => h.push_str("<td class=\"n\" data-v=\"\">"),
                    }
                    escape_into(h, s);
                }
            }
            h.push_str("</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
    if let Some(c) = &t.caption {
        h.push_str("<p class=\"caption\">");
        escape_into(h, c);
        h.push_str("</p>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_text_and_references_nothing_outside() {
        let mut p = Page::new("a <b> & \"c\"");
        p.subtitle = Some("/tmp/x".into());
        let mut t = Table::new(&["tag", "PnL"]);
        t.rows.push(vec![Cell::text("<script>"), Cell::number(1.5, 3)]);
        t.rows.push(vec![Cell::text("b"), Cell::number(f64::NAN, 3)]);
        p.push(Section::new("One").with(Block::Table(t)).with(Block::KeyValue(vec![("k".into(), "v".into())])));
        p.push(Section::new("Two").with(Block::Note("n".into())));
        let h = p.to_html();
        assert!(h.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        assert!(h.contains("<td>&lt;script&gt;</td>"), "cell text is escaped");
        assert!(h.contains("data-v=\"1.5\">1.5<"));
        assert!(h.contains("data-v=\"\">–<"), "undefined numbers sort last and show a dash");
        assert!(h.contains("href=\"#s1\""));
        for bad in ["http://", "https://", "<script src", "<link", "@import", "url("] {
            assert!(!h.contains(bad), "external reference {bad:?}");
        }
        assert_eq!(h, p.to_html(), "deterministic");
    }

    #[test]
    fn write_is_atomic_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.html");
        Page::new("t").write(&out).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.html")]);
        assert!(std::fs::read_to_string(&out).unwrap().starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn percent_and_count_cells() {
        assert_eq!(Cell::percent(Some(0.5)), Cell::Number(Some(0.5), "50.0%".into()));
        assert_eq!(Cell::percent(None), Cell::Number(None, "–".into()));
        assert_eq!(Cell::count(7), Cell::Number(Some(7.0), "7".into()));
    }
}
