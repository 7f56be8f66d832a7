//! `rprobe graph NAME... [--format dot|svg]`: the closure of some requests as a graph in
//! Graphviz's DOT language, edges styled by kind; or as SVG, laid out by the layout-rs crate
//! (no Graphviz needed).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use rprobe_resolve::explain::{closure_graph, Edge, EdgeKind, Graph, Node};

/// What `rprobe graph` does, in one line (its page's NAME line and rprobe(8)'s list).
pub(crate) const ABOUT: &str =
    "Draw the closure of some requests as a graph, in Graphviz's DOT language or as SVG";

/// Options of `rprobe graph`.
#[derive(Parser, Debug)]
#[command(name = "graph", about = ABOUT, disable_version_flag = true)]
struct Args {
    /// Output format: dot (Graphviz's language) or svg (laid out without Graphviz).
    #[arg(long = "format", default_value = "dot", value_parser = ["dot", "svg"])]
    format: String,
    /// Configuration file or directory (repeatable; default: kmod's directories).
    #[arg(short = 'C', long = "config")]
    config: Vec<PathBuf>,
    /// Root directory for /lib/modules.
    #[arg(short = 'd', long = "dirname")]
    dirname: Option<String>,
    /// Kernel version (default: the running one).
    #[arg(short = 'S', long = "set-version")]
    set_version: Option<String>,
    /// Requests: module names, aliases or symbol:NAME.
    #[arg(required = true)]
    names: Vec<String>,
}

/// A DOT string literal.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The DOT attributes of an edge: its kind as `class`, its style and colour.
fn edge_attrs(e: &Edge) -> String {
    let class = e.kind.name();
    let style = match &e.kind {
        EdgeKind::Symbols(s) => format!("color=\"black\", tooltip={}", quote(&s.join(" "))),
        EdgeKind::Dependency => "color=\"black\"".into(),
        EdgeKind::SoftdepPre(_) => "style=\"dashed\", color=\"blue\", label=\"pre\"".into(),
        EdgeKind::SoftdepPost(_) => "style=\"dashed\", color=\"darkgreen\", label=\"post\"".into(),
        EdgeKind::Weakdep(_) => "style=\"dashed\", color=\"gray\", label=\"weak\"".into(),
        EdgeKind::Alias { .. } => "color=\"red\", label=\"alias\"".into(),
    };
    format!("class=\"{class}\", {style}")
}

/// The graph in DOT: one box per module (built-in modules filled gray), one ellipse per
/// alias, requests filled yellow; edges: symbols black, soft pre/post dashed blue/green,
/// weak dashed gray, alias red. Every node and edge has its kind as `class`.
pub fn to_dot(g: &Graph) -> String {
    let mut o = String::from("digraph modules {\n");
    for n in &g.nodes {
        let root = g.roots.iter().any(|r| r == n.name());
        let (class, shape, builtin) = match n {
            Node::Module { builtin, .. } => ("module", "box", *builtin),
            Node::Alias(_) => ("alias", "ellipse", false),
        };
        let fill = match (root, builtin) {
            (true, _) => ", style=\"filled\", fillcolor=\"lightyellow\"",
            (false, true) => ", style=\"filled\", fillcolor=\"lightgray\"",
            (false, false) => "",
        };
        o.push_str(&format!(
            "  {} [class=\"{class}\", shape=\"{shape}\"{fill}];\n",
            quote(n.name())
        ));
    }
    for e in &g.edges {
        o.push_str(&format!(
            "  {} -> {} [{}];\n",
            quote(&e.from),
            quote(&e.to),
            edge_attrs(e)
        ));
    }
    o.push_str("}\n");
    o
}

/// DOT laid out and drawn as SVG by layout-rs.
pub fn dot_to_svg(dot: &str) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let ast = DotParser::new(dot).process()?;
    // layout-rs asserts on layouts it cannot make; report that as an error, not a crash
    // (and without the panic message the default hook would print).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let svg = std::panic::catch_unwind(move || {
        let mut b = GraphBuilder::new();
        b.visit_graph(&ast);
        let mut vg = b.get();
        let mut svg = SVGWriter::new();
        vg.do_it(false, false, false, &mut svg);
        svg.finalize()
    });
    std::panic::set_hook(hook);
    svg.map_err(|_| "the layout failed".to_string())
}

/// Runs `rprobe graph`; returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    let args: Args = match crate::parse_args("graph", &raw, 2) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let ctx = match crate::why::open(
        args.dirname.as_deref(),
        args.set_version.as_deref(),
        &args.config,
        "graph",
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let r = ctx.resolver();
    let (g, missing) = match closure_graph(&r, &args.names) {
        Ok(x) => x,
        Err(e) => {
            crate::out::log("graph", rprobe_index::log::Level::Error, &e);
            return 1;
        }
    };
    for m in &missing {
        crate::out::log(
            "graph",
            rprobe_index::log::Level::Error,
            format_args!("Module {m} not found."),
        );
    }
    let dot = to_dot(&g);
    if args.format == "svg" {
        match dot_to_svg(&dot) {
            Ok(svg) => crate::out!("{svg}"),
            Err(e) => {
                crate::out::log(
                    "graph",
                    rprobe_index::log::Level::Error,
                    format_args!("SVG: {e}"),
                );
                return 1;
            }
        }
    } else {
        crate::out!("{dot}");
    }
    i32::from(!missing.is_empty())
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
