//! kmod's binary index format (modules.*.bin): a trie of 7-bit ASCII keys whose nodes
//! carry values with priorities. Big-endian: magic 0xB007F457, version 0x00020001, the
//! root node's offset, then the nodes. A node offset's top nibble says what the node holds
//! (prefix string, child table, values); the rest is the file offset.
//!
//! Two layouts share the header ([`Layout`]): kmod up to 33 writes children before their
//! parent (the root last), kmod 34 writes the root first, at offset 12, and children after
//! their parent. Readers of either generation read both; the reader here takes the
//! direction from where the root is and holds every child link to it, so no link can lead
//! back to an ancestor.

use std::path::Path;

use crate::{Error, Result};

/// The magic number at the start of every index.
pub const MAGIC: u32 = 0xB007_F457;
/// Format version 2.1.
pub const VERSION: u32 = 0x0002_0001;
const F_PREFIX: u32 = 0x8000_0000;
const F_VALUES: u32 = 0x4000_0000;
const F_CHILDS: u32 = 0x2000_0000;
const MASK: u32 = 0x0FFF_FFFF;
/// Where the first node goes: after magic, version and the root's offset.
const HEADER: u32 = 12;
/// A child link that points the wrong way for the layout (which could close a loop).
const LOOP_POST: &str =
    "child offset does not precede its parent (loop) in an index whose root is last";
const LOOP_PRE: &str =
    "child offset does not follow its parent (loop) in an index whose root is first";

/// How the nodes of an index file are ordered: the one difference between the files kmod
/// 30 and kmod 34 write (same magic, same version, same node encoding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Children before their parent, the root last (kmod up to 33; module-init-tools).
    #[default]
    PostOrder,
    /// The root at offset 12, each node followed by its children's subtrees in character
    /// order (kmod 34 and later).
    PreOrder,
}

/// A value stored under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// Lower sorts first.
    pub priority: u32,
    /// The value text.
    pub value: String,
}

/// Builds an index in memory and writes it in kmod's format, byte for byte as kmod's depmod
/// lays it out (same splitting, same value order, same post-order node placement).
///
/// Keys are kept in a hash map while they are added; [`TrieBuilder::to_bytes`] sorts them
/// and lays the trie out from the sorted list (a compressed trie is the same whatever order
/// its keys came in), so no node is ever allocated.
#[derive(Default)]
pub struct TrieBuilder {
    keys: std::collections::HashMap<Box<[u8]>, Vec<Value>>,
}

/// Keys and values must be 7-bit ASCII without NUL.
pub fn check_ascii(s: &str) -> bool {
    s.bytes().all(|b| b != 0 && b < 128)
}

impl TrieBuilder {
    /// An empty index.
    pub fn new() -> TrieBuilder {
        TrieBuilder::default()
    }

    /// Adds `value` under `key`. Returns true when the key already held the same value.
    /// Among values of equal priority the one added last comes first, as in kmod.
    ///
    /// Keys must be 7-bit ASCII without NUL and values free of NUL: anything else is refused
    /// with [`Error::BadIndexKey`] and the index is left unchanged (kmod 30's depmod indexes
    /// out of bounds on such a key).
    pub fn insert(&mut self, key: &str, value: &str, priority: u32) -> Result<bool> {
        // Keys index 128-slot child tables: 7-bit ASCII only. Values are stored as strings
        // (kmod writes any byte but NUL there, e.g. a module path with 'é').
        for (part, text, bad) in [
            ("key", key, (|b: u8| b == 0 || b >= 0x80) as fn(u8) -> bool),
            ("value", value, |b: u8| b == 0),
        ] {
            if let Some(byte) = text.bytes().find(|&b| bad(b)) {
                return Err(Error::BadIndexKey {
                    key: key.to_string(),
                    part,
                    byte,
                });
            }
        }
        let values = match self.keys.get_mut(key.as_bytes()) {
            Some(v) => v,
            None => self.keys.entry(key.as_bytes().into()).or_default(),
        };
        let dup = values.iter().any(|v| v.value == value);
        insert_by_priority(
            values,
            Value {
                priority,
                value: value.to_string(),
            },
        );
        Ok(dup)
    }

    /// The index file's bytes in kmod 30's layout ([`Layout::PostOrder`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_as(Layout::PostOrder)
    }

    /// The index file's bytes in `layout`, byte for byte as that generation's depmod.
    pub fn to_bytes_as(&self, layout: Layout) -> Vec<u8> {
        let mut keys: Vec<(&[u8], &[Value])> = self
            .keys
            .iter()
            .map(|(k, v)| (&**k, v.as_slice()))
            .collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        let root = match layout {
            Layout::PostOrder => write_sorted(&keys, &mut out),
            Layout::PreOrder => write_sorted_pre(&keys, &mut out),
        };
        out[8..12].copy_from_slice(&root.to_be_bytes());
        out
    }
}

/// One node being laid out: the keys `lo..hi` (sorted) below it, the key bytes consumed
/// before its prefix (`start`) and after it (`end`), the character that leads to it from
/// its parent, and the offsets of the children written so far.
struct Pending {
    lo: usize,
    hi: usize,
    start: usize,
    end: usize,
    ch: u8,
    next: usize,
    first: Option<u8>,
    offs: Vec<u32>,
}

impl Pending {
    /// The node of keys `lo..hi`, all of which begin with the same `start` bytes: its
    /// prefix runs as far as they all agree (the root has none, as in kmod's layout).
    fn new(
        keys: &[(&[u8], &[Value])],
        lo: usize,
        hi: usize,
        start: usize,
        ch: u8,
        root: bool,
    ) -> Pending {
        let end = if root {
            0
        } else {
            // Sorted keys: the first and the last share exactly what all of them share.
            let (a, b) = (&keys[lo].0[start..], &keys[hi - 1].0[start..]);
            start + a.iter().zip(b).take_while(|(x, y)| x == y).count()
        };
        // A key that ends here holds this node's values; it sorts first.
        let next = if keys[lo].0.len() == end { lo + 1 } else { lo };
        Pending {
            lo,
            hi,
            start,
            end,
            ch,
            next,
            first: None,
            offs: Vec::new(),
        }
    }
}

/// Lays out the trie of `keys` (sorted, distinct) after the header in `out`: children
/// before their parent, in character order, as kmod writes them. Iterative, so key length
/// never costs stack. Returns the root's offset word.
fn write_sorted(keys: &[(&[u8], &[Value])], out: &mut Vec<u8>) -> u32 {
    if keys.is_empty() {
        return out.len() as u32;
    }
    let mut stack = vec![Pending::new(keys, 0, keys.len(), 0, 0, true)];
    loop {
        let Some(top) = stack.last_mut() else {
            return out.len() as u32;
        };
        if top.next < top.hi {
            // The next child: the keys that continue with the same character.
            let d = top.end;
            let ch = keys[top.next].0[d];
            let group = &keys[top.next..top.hi];
            let len = group.partition_point(|(k, _)| k[d] <= ch);
            let (lo, hi) = (top.next, top.next + len);
            top.next = hi;
            let child = Pending::new(keys, lo, hi, d + 1, ch, false);
            stack.push(child);
            continue;
        }
        let Some(node) = stack.pop() else {
            return out.len() as u32;
        };
        let children = node.first.map(|f| (f, node.offs.as_slice()));
        let (offset, _) = emit_node(keys, &node, children, out);
        let Some(parent) = stack.last_mut() else {
            return offset;
        };
        match parent.first {
            None => parent.first = Some(node.ch),
            Some(first) => {
                // Characters without a child between the last one and this: offset 0.
                let want = usize::from(node.ch - first);
                parent.offs.resize(want, 0);
            }
        }
        parent.offs.push(offset);
    }
}

/// Appends the node `node` to `out`: its prefix, its child table (first character and
/// the children's offset words, when it has children) and its values. Returns the node's
/// offset word (offset and flags) and where its child table's offsets start in `out`.
fn emit_node(
    keys: &[(&[u8], &[Value])],
    node: &Pending,
    children: Option<(u8, &[u32])>,
    out: &mut Vec<u8>,
) -> (u32, usize) {
    let mut offset = out.len() as u32;
    let key = keys[node.lo].0;
    if node.end > node.start {
        out.extend_from_slice(&key[node.start..node.end]);
        out.push(0);
        offset |= F_PREFIX;
    }
    let mut table = out.len();
    if let Some((first, offs)) = children {
        out.push(first);
        out.push(first + (offs.len() as u8 - 1));
        table = out.len();
        for c in offs {
            out.extend_from_slice(&c.to_be_bytes());
        }
        offset |= F_CHILDS;
    }
    if key.len() == node.end {
        let values = keys[node.lo].1;
        out.extend_from_slice(&(values.len() as u32).to_be_bytes());
        for v in values {
            out.extend_from_slice(&v.priority.to_be_bytes());
            out.extend_from_slice(v.value.as_bytes());
            out.push(0);
        }
        offset |= F_VALUES;
    }
    (offset, table)
}

/// Lays out the trie of `keys` (sorted, distinct) after the header in `out` as kmod 34
/// writes it: each node, then its children's subtrees in character order. A node is
/// written as soon as it is reached, with its child table zeroed; each child patches its
/// own slot when it is written. Iterative, as [`write_sorted`]. Returns the root's offset
/// word.
fn write_sorted_pre(keys: &[(&[u8], &[Value])], out: &mut Vec<u8>) -> u32 {
    if keys.is_empty() {
        // kmod's root always exists: an empty node at offset 12.
        return out.len() as u32;
    }
    // Each frame: the node, where its child table starts in `out` and its first character.
    let mut stack: Vec<(Pending, usize, u8)> = Vec::new();
    let mut root_word = 0;
    let mut next = Some(Pending::new(keys, 0, keys.len(), 0, 0, true));
    loop {
        if let Some(node) = next.take() {
            // The node's children: the characters after `end` of its keys (sorted, so
            // the first and the last continuing key give the table's range).
            let range = (node.next < node.hi)
                .then(|| (keys[node.next].0[node.end], keys[node.hi - 1].0[node.end]));
            let zeros;
            let children = match range {
                Some((first, last)) => {
                    zeros = vec![0u32; usize::from(last - first) + 1];
                    Some((first, zeros.as_slice()))
                }
                None => None,
            };
            let (word, table) = emit_node(keys, &node, children, out);
            match stack.last() {
                None => root_word = word,
                Some((_, ptable, pfirst)) => {
                    let slot = ptable + 4 * usize::from(node.ch - pfirst);
                    out[slot..slot + 4].copy_from_slice(&word.to_be_bytes());
                }
            }
            let first = range.map_or(0, |r| r.0);
            stack.push((node, table, first));
        }
        let Some((top, _, _)) = stack.last_mut() else {
            return root_word;
        };
        if top.next < top.hi {
            let d = top.end;
            let ch = keys[top.next].0[d];
            let group = &keys[top.next..top.hi];
            let len = group.partition_point(|(k, _)| k[d] <= ch);
            let (lo, hi) = (top.next, top.next + len);
            top.next = hi;
            next = Some(Pending::new(keys, lo, hi, d + 1, ch, false));
        } else {
            stack.pop();
        }
    }
}

/// Index bytes: mapped from a file or owned.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A read-only index file, memory-mapped: a lookup touches only the nodes on its path.
pub struct Trie {
    path: std::path::PathBuf,
    data: Bytes,
    root: u32,
}

/// One node, read in place: slices of the mapped file, nothing copied or allocated. Child
/// links and values are decoded when they are used, and each link is checked then.
#[derive(Clone, Copy)]
struct RNode<'a> {
    /// The node's own offset (flags masked off), which its child links are held to.
    at: u32,
    prefix: &'a [u8],
    first: u8,
    /// The child table: one big-endian offset word per character from `first` on.
    table: &'a [u8],
    /// How many values the node holds, and the bytes they start at.
    nvalues: u32,
    values: &'a [u8],
}

/// A big-endian word at the start of `b` (which holds at least four bytes).
fn be_word(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Index text as a Rust string: the bytes as they are when they are UTF-8 (kmod's keys and
/// values are ASCII), lossily otherwise.
fn text(v: &[u8]) -> String {
    crate::name::text(v).into_owned()
}

/// What [`Trie::step`] found at a node on a lookup's path.
enum Step {
    /// The prefix differs from the key: nothing below matches.
    Mismatch,
    /// The prefix has a wildcard at this position (wildcard searches only).
    Wild(usize),
    /// The prefix matched: where the node's prefix ends (its child table, if any, then
    /// its values follow), and the table.
    Node {
        after_prefix: usize,
        children: Children,
    },
}

/// A node's child table as [`Trie::step`] located it, read one slot at a time.
#[derive(Default)]
struct Children {
    first: u8,
    /// The last character with a slot.
    last: u8,
    /// Where the slots start in the file; 0 (the default) when the node has no table.
    table: usize,
}

impl Children {
    /// Where the node's values start, given where its prefix ends.
    fn values_at(&self, after_prefix: usize) -> usize {
        if self.table == 0 {
            after_prefix
        } else {
            self.table + 4 * (usize::from(self.last - self.first) + 1)
        }
    }

    /// The link word in `ch`'s slot; 0 when the table has none.
    #[inline(always)]
    fn slot(&self, trie: &Trie, d: &[u8], ch: u8) -> Result<u32> {
        if self.table == 0 || ch < self.first || ch > self.last {
            return Ok(0);
        }
        let s = self.table + 4 * usize::from(ch - self.first);
        d.get(s..s + 4)
            .map(be_word)
            .ok_or_else(|| trie.bad("truncated node"))
    }
}

impl<'a> RNode<'a> {
    /// How many child slots the table has.
    fn slots(&self) -> usize {
        self.table.len() / 4
    }

    /// The child in slot `i`, if any ([`Trie::checked_link`]).
    fn link(&self, trie: &Trie, i: usize) -> Result<Option<u32>> {
        let Some(b) = self.table.get(4 * i..4 * i + 4) else {
            return Ok(None);
        };
        trie.checked_link(self.at, be_word(b))
    }

    /// Calls `f` with each value (priority, text) in stored order.
    fn each_value(&self, trie: &Trie, mut f: impl FnMut(u32, &'a [u8])) -> Result<()> {
        let mut rest = self.values;
        for _ in 0..self.nvalues {
            let (prio, v, tail) = Self::value(trie, rest)?;
            f(prio, v);
            rest = tail;
        }
        Ok(())
    }

    /// One value at the start of `b`: its priority, its text, and what follows it.
    fn value(trie: &Trie, b: &'a [u8]) -> Result<(u32, &'a [u8], &'a [u8])> {
        let (head, rest) = b
            .split_at_checked(4)
            .ok_or_else(|| trie.bad("truncated node"))?;
        let v = std::ffi::CStr::from_bytes_until_nul(rest)
            .map_err(|_| trie.bad("unterminated string"))?
            .to_bytes();
        Ok((be_word(head), v, &rest[v.len() + 1..]))
    }
}

impl Trie {
    /// Opens and checks an index file.
    pub fn open(path: &Path) -> Result<Trie> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Trie::from_bytes(path, Vec::new());
        }
        // SAFETY: read-only private map; depmod replaces indexes by rename, never in place.
        #[expect(
            unsafe_code,
            reason = "mapping an index is unsafe (the file could change under the map); see SAFETY"
        )]
        let map = unsafe {
            memmap2::MmapOptions::new()
                .len(usize::try_from(len).unwrap_or(usize::MAX))
                .map(&file)
        }
        .map_err(|e| Error::io(path, e))?;
        Trie::check(path, Bytes::Mapped(map))
    }

    /// Checks the header of index bytes; `path` names them in errors.
    pub fn from_bytes(path: &Path, data: Vec<u8>) -> Result<Trie> {
        Trie::check(path, Bytes::Owned(data))
    }

    fn check(path: &Path, data: Bytes) -> Result<Trie> {
        let word = |i: usize| data.get(i..i + 4).map(be_word);
        let bad = |r: &str| Error::BadIndex {
            path: path.into(),
            reason: r.into(),
        };
        if word(0) != Some(MAGIC) {
            return Err(bad("bad magic (not a kmod index)"));
        }
        match word(4) {
            Some(v) if v >> 16 == VERSION >> 16 => {}
            _ => return Err(bad("unsupported index version")),
        }
        let root = word(8).ok_or_else(|| bad("truncated header"))?;
        Ok(Trie {
            path: path.into(),
            data,
            root,
        })
    }

    /// The layout this file was written in, told by where its root is: kmod 34 puts it
    /// first, at offset 12, where a root written last can only be when it has no
    /// children. Every child link must point the same way (after its parent when the root
    /// is first, before it otherwise), so offsets change monotonically along any path and
    /// no path can come back to a node it has left.
    pub fn layout(&self) -> Layout {
        if self.root & MASK == HEADER {
            Layout::PreOrder
        } else {
            Layout::PostOrder
        }
    }

    fn bad(&self, r: &str) -> Error {
        Error::BadIndex {
            path: self.path.clone(),
            reason: r.into(),
        }
    }

    /// Reads the node at `offset` (an offset word: flags and position) in place.
    fn node(&self, offset: u32) -> Result<RNode<'_>> {
        let at = offset & MASK;
        let d: &[u8] = &self.data;
        let mut rest = d
            .get(at as usize..)
            .ok_or_else(|| self.bad("node offset past the end"))?;
        let mut prefix: &[u8] = &[];
        if offset & F_PREFIX != 0 {
            prefix = std::ffi::CStr::from_bytes_until_nul(rest)
                .map_err(|_| self.bad("unterminated string"))?
                .to_bytes();
            rest = &rest[prefix.len() + 1..];
        }
        let (mut first, mut table): (u8, &[u8]) = (128, &[]);
        if offset & F_CHILDS != 0 {
            let p = d.len() - rest.len();
            let children = self.children_at(d, p)?;
            first = children.first;
            let end = children.values_at(p);
            table = d
                .get(children.table..end)
                .ok_or_else(|| self.bad("truncated node"))?;
            rest = &d[end..];
        }
        let mut nvalues = 0;
        if offset & F_VALUES != 0 {
            let (head, tail) = rest
                .split_at_checked(4)
                .ok_or_else(|| self.bad("truncated node"))?;
            nvalues = be_word(head);
            rest = tail;
        }
        Ok(RNode {
            at,
            prefix,
            first,
            table,
            nvalues,
            values: rest,
        })
    }

    fn root(&self) -> Result<Option<RNode<'_>>> {
        if self.root & MASK == 0 {
            return Ok(None);
        }
        self.node(self.root).map(Some)
    }

    /// The first (lowest priority) value stored under exactly `key`.
    pub fn search(&self, key: &str) -> Result<Option<String>> {
        Ok(self.search_bytes(key.as_bytes())?.map(text))
    }

    /// [`Trie::search`] without the copy: the value's bytes in the index.
    ///
    /// This is every exact lookup's path (modules.dep, modules.builtin), so it walks the
    /// mapped bytes directly, as kmod's index_mm_search does ([`Trie::step`]).
    pub fn search_bytes(&self, key: &[u8]) -> Result<Option<&[u8]>> {
        let d: &[u8] = &self.data;
        let mut off = self.root;
        if off & MASK == 0 {
            return Ok(None);
        }
        let mut i = 0;
        loop {
            let Step::Node {
                after_prefix,
                children,
            } = self.step(d, off, key, &mut i, false)?
            else {
                return Ok(None);
            };
            let Some(&ch) = key.get(i) else {
                // The key ends here: this node's first value, if it holds any.
                return self.first_value(off, children.values_at(after_prefix));
            };
            match self.checked_link(off, children.slot(self, d, ch)?)? {
                Some(c) => off = c,
                None => return Ok(None),
            }
            i += 1;
        }
    }

    /// Reads the node at `off` on a lookup's path, in place: compares its prefix with
    /// `key` from `*i` on (advancing `*i` past it) and reads where its child table is. Only
    /// the bytes the lookup needs are read, each bounds-checked. With `wild`, a prefix
    /// character that is a wildcard stops the walk there ([`Step::Wild`]).
    ///
    /// Always inlined into the two walks: called per node, it made them three times
    /// slower (a result enum and its checks at every node, measured on 4,230 lookups).
    #[inline(always)]
    fn step(&self, d: &[u8], off: u32, key: &[u8], i: &mut usize, wild: bool) -> Result<Step> {
        let start = (off & MASK) as usize;
        let mut p = start;
        if off & F_PREFIX != 0 {
            loop {
                let &c = d.get(p).ok_or_else(|| self.bad("unterminated string"))?;
                p += 1;
                if c == 0 {
                    break;
                }
                if wild && matches!(c, b'*' | b'?' | b'[') {
                    return Ok(Step::Wild(p - 1 - start));
                }
                if key.get(*i) != Some(&c) {
                    return Ok(Step::Mismatch);
                }
                *i += 1;
            }
        }
        let mut children = Children::default();
        if off & F_CHILDS != 0 {
            children = self.children_at(d, p)?;
        }
        Ok(Step::Node {
            after_prefix: p,
            children,
        })
    }

    /// The child table of a node whose prefix ends at `p` (the node has one): its first
    /// and last characters, checked, and where its slots start. Both node readers
    /// ([`Trie::node`], [`Trie::step`]) go through here.
    #[inline(always)]
    fn children_at(&self, d: &[u8], p: usize) -> Result<Children> {
        let (first, last) = match d.get(p..p + 2) {
            Some(&[f, l]) => (f, l),
            _ => return Err(self.bad("truncated node")),
        };
        if last < first || last >= 128 {
            return Err(self.bad("bad child range"));
        }
        Ok(Children {
            first,
            last,
            table: p + 2,
        })
    }

    /// The first value of the node at `off`, whose values (if it has any) start at `p`.
    fn first_value(&self, off: u32, p: usize) -> Result<Option<&[u8]>> {
        if off & F_VALUES == 0 {
            return Ok(None);
        }
        let d: &[u8] = &self.data;
        let head = d.get(p..p + 4).ok_or_else(|| self.bad("truncated node"))?;
        if be_word(head) == 0 {
            return Ok(None);
        }
        RNode::value(self, &d[p + 4..]).map(|(_, v, _)| Some(v))
    }

    /// A child link read from the node at `parent`: its offset word, or `None` when there
    /// is no child; a link that points the wrong way for the file's layout (which could
    /// close a loop) is a corrupt-index error.
    #[inline(always)]
    fn checked_link(&self, parent: u32, word: u32) -> Result<Option<u32>> {
        let (child, at) = (word & MASK, parent & MASK);
        if child == 0 {
            return Ok(None);
        }
        match self.layout() {
            Layout::PostOrder if child >= at => Err(self.bad(LOOP_POST)),
            Layout::PreOrder if child <= at => Err(self.bad(LOOP_PRE)),
            _ => Ok(Some(word)),
        }
    }

    /// Every value whose key, taken as an fnmatch pattern, matches `key`: kmod's wildcard
    /// search, with its result order (by priority; equal priorities newest first).
    ///
    /// Work is bounded: the path follows `key` (one node per key byte), and each subtree
    /// walked for a wildcard must meet its nodes in the file's own order (a node reached
    /// twice, in an index whose nodes share children, which kmod never writes, is a
    /// corrupt-index error; see [`Order`]) on its own stack, so a deep chain of nodes
    /// cannot overflow the thread's stack.
    pub fn search_wild(&self, key: &str) -> Result<Vec<Value>> {
        self.search_wild_with(key, true)
    }

    /// [`Trie::search_wild`], skipping subtrees that cannot match when `prune` (always,
    /// outside tests, which compare both walks).
    fn search_wild_with(&self, key: &str, prune: bool) -> Result<Vec<Value>> {
        let key = key.as_bytes();
        let d: &[u8] = &self.data;
        let mut out = Vec::new();
        let mut off = self.root;
        if off & MASK == 0 {
            return Ok(out);
        }
        let mut i = 0;
        let mut buf = Vec::new();
        loop {
            let children = match self.step(d, off, key, &mut i, true)? {
                Step::Mismatch => return Ok(out),
                Step::Wild(j) => {
                    // Every key below starts with a pattern: match them all against
                    // the rest of `key`.
                    let n = self.node(off)?;
                    let subkey = &key[i.min(key.len())..];
                    self.wild_all(n, j, &mut buf, subkey, prune, &mut out)?;
                    return Ok(out);
                }
                Step::Node { children, .. } => children,
            };
            for w in [b'*', b'?', b'['] {
                if let Some(o) = self.checked_link(off, children.slot(self, d, w)?)? {
                    let c = self.node(o)?;
                    buf.push(w);
                    self.wild_all(c, 0, &mut buf, &key[i..], prune, &mut out)?;
                    buf.pop();
                }
            }
            let Some(&ch) = key.get(i) else {
                self.node(off)?
                    .each_value(self, |p, v| add_value(&mut out, p, v))?;
                return Ok(out);
            };
            match self.checked_link(off, children.slot(self, d, ch)?)? {
                Some(c) => off = c,
                None => return Ok(out),
            }
            i += 1;
        }
    }

    /// The next child of `top` from slot `*k` on, advancing `*k` past it: its character
    /// and its node.
    fn next_child<'s>(&'s self, top: &RNode<'s>, k: &mut usize) -> Result<Option<(u8, RNode<'s>)>> {
        while *k < top.slots() {
            let idx = *k;
            *k += 1;
            if let Some(o) = top.link(self, idx)? {
                return Ok(Some((top.first.wrapping_add(idx as u8), self.node(o)?)));
            }
        }
        Ok(None)
    }

    /// Adds the values of every node under `n` (whose prefix from `j` on is not yet in
    /// `buf`) whose full key matches `subkey`, children before their parent, as kmod does.
    /// A subtree whose keys all start with a pattern no completion can make match
    /// `subkey` is skipped ([`Reach`]); the values found, and their order, are kmod's.
    fn wild_all<'s>(
        &'s self,
        n: RNode<'s>,
        j: usize,
        buf: &mut Vec<u8>,
        subkey: &[u8],
        prune: bool,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        let mut order = Order::new(self.layout());
        order.enter(self, &n)?;
        let base = buf.len();
        buf.extend_from_slice(n.prefix.get(j..).unwrap_or_default());
        let reach = Reach::new(subkey);
        let start = reach.advance(reach.start().filter(|_| prune), buf);
        // Each frame: the node, the next child slot to visit, the length of `buf` to
        // restore when the node is done, and where the pattern so far can have reached.
        let mut stack: Vec<(RNode<'s>, usize, usize, Option<u128>)> = vec![(n, 0, base, start)];
        while let Some((top, k, _, at)) = stack.last_mut() {
            let at = *at;
            if let Some((ch, c)) = self.next_child(top, k)? {
                order.enter(self, &c)?;
                let child_at = reach.advance(reach.advance(at, &[ch]), c.prefix);
                if child_at == Some(0) {
                    // No key below can match: the subtree is left unread.
                    order.leave_unread(self, &c)?;
                    continue;
                }
                let restore = buf.len();
                buf.push(ch);
                buf.extend_from_slice(c.prefix);
                stack.push((c, 0, restore, child_at));
                continue;
            }
            if let Some((done, _, restore, at)) = stack.pop() {
                order.leave(self, &done)?;
                let matches = || match at {
                    Some(at) => reach.matched(at),
                    None => fnmatch(buf, subkey),
                };
                if done.nvalues != 0 && matches() {
                    done.each_value(self, |p, v| add_value(out, p, v))?;
                }
                buf.truncate(restore);
            }
        }
        Ok(())
    }

    /// Every (key, value) pair, keys in byte order: for dumping and tests. A node reached
    /// twice is a corrupt-index error; the walk does not recurse.
    pub fn entries(&self) -> Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        let Some(r) = self.root()? else {
            return Ok(out);
        };
        let mut order = Order::new(self.layout());
        order.enter(self, &r)?;
        let mut key = Vec::new();
        let emit = |n: &RNode<'_>, key: &[u8], out: &mut Vec<(String, Value)>| {
            n.each_value(self, |p, v| {
                out.push((
                    text(key),
                    Value {
                        priority: p,
                        value: text(v),
                    },
                ))
            })
        };
        key.extend_from_slice(r.prefix);
        emit(&r, &key, &mut out)?;
        let mut stack: Vec<(RNode<'_>, usize, usize)> = vec![(r, 0, 0)];
        while let Some((top, k, _)) = stack.last_mut() {
            let Some((ch, c)) = self.next_child(top, k)? else {
                if let Some((done, _, restore)) = stack.pop() {
                    order.leave(self, &done)?;
                    key.truncate(restore);
                }
                continue;
            };
            order.enter(self, &c)?;
            let restore = key.len();
            key.push(ch);
            key.extend_from_slice(c.prefix);
            emit(&c, &key, &mut out)?;
            stack.push((c, 0, restore));
        }
        Ok(out)
    }
}

/// The order a walk must meet nodes in. kmod lays a trie out as one depth-first walk with
/// children in character order: nodes before their children (kmod 34) or after them (kmod
/// up to 33). A walk in character order therefore enters (pre-order) or leaves
/// (post-order) nodes at strictly rising offsets; a node met again, which only an index
/// with shared children has, breaks the rise and is a corrupt index. This bounds every
/// walk by the file's size, with no set of visited nodes to keep.
struct Order {
    pre: bool,
    last: Option<u32>,
}

impl Order {
    fn new(layout: Layout) -> Order {
        Order {
            pre: layout == Layout::PreOrder,
            last: None,
        }
    }

    fn step(&mut self, trie: &Trie, n: &RNode<'_>) -> Result<()> {
        if self.last.is_some_and(|l| n.at <= l) {
            return Err(trie.bad(
                "a node is reached twice or out of the file's order (shared children or a loop)",
            ));
        }
        self.last = Some(n.at);
        Ok(())
    }

    /// The walk enters `n` (before its children).
    fn enter(&mut self, trie: &Trie, n: &RNode<'_>) -> Result<()> {
        if self.pre {
            self.step(trie, n)?;
        }
        Ok(())
    }

    /// The walk leaves `n` (after its children).
    fn leave(&mut self, trie: &Trie, n: &RNode<'_>) -> Result<()> {
        if !self.pre {
            self.step(trie, n)?;
        }
        Ok(())
    }

    /// The walk passes `n` by without reading its subtree (see [`Reach`]). Its
    /// descendants lie between it and the nodes after it, so the order stays checkable:
    /// in a root-last file they come before it, and the next node the walk leaves must
    /// come after it.
    fn leave_unread(&mut self, trie: &Trie, n: &RNode<'_>) -> Result<()> {
        self.leave(trie, n)
    }
}

/// Where a wildcard key's pattern can have reached in the query: a set of positions in the
/// query (bit i: the pattern so far can match the query's first i bytes), advanced one
/// pattern byte at a time. An empty set means no key that starts with this pattern can
/// match, whatever follows, so its subtree need not be read. Only `*`, `?` and literal
/// bytes are tracked; a `[` or `\\` makes the set unknown (`None`) and the full fnmatch
/// decides. Queries of 127 bytes or more are not tracked.
struct Reach {
    len: usize,
    /// Bit i set in `eq[c]` when the query's byte i is c.
    eq: Vec<u128>,
}

impl Reach {
    fn new(query: &[u8]) -> Reach {
        let mut eq = vec![0u128; 256];
        if query.len() < 127 {
            for (i, &c) in query.iter().enumerate() {
                eq[usize::from(c)] |= 1u128 << i;
            }
        }
        Reach {
            len: query.len(),
            eq,
        }
    }

    /// Before any pattern byte: position 0, when tracked.
    fn start(&self) -> Option<u128> {
        (self.len < 127).then_some(1)
    }

    /// The positions after `pattern` from the positions `at`.
    fn advance(&self, at: Option<u128>, pattern: &[u8]) -> Option<u128> {
        let mut st = at?;
        let end = 1u128 << self.len;
        let all = (end << 1) - 1;
        for &c in pattern {
            if st == 0 {
                return Some(0);
            }
            st = match c {
                b'*' => all & !((1u128 << st.trailing_zeros()) - 1),
                b'?' => (st & !end) << 1,
                b'[' | b'\\' => return None,
                c => (st & self.eq[usize::from(c)]) << 1,
            };
        }
        Some(st)
    }

    /// True when the pattern that reached `at` matches the whole query.
    fn matched(&self, at: u128) -> bool {
        at & (1u128 << self.len) != 0
    }
}

/// Puts `value` before the first value of equal or higher priority: lower priorities
/// first, and among equals the one put last first (kmod's order, writing and reading).
fn insert_by_priority(values: &mut Vec<Value>, value: Value) {
    let pos = values
        .iter()
        .position(|x| x.priority >= value.priority)
        .unwrap_or(values.len());
    values.insert(pos, value);
}

fn add_value(out: &mut Vec<Value>, priority: u32, v: &[u8]) {
    insert_by_priority(
        out,
        Value {
            priority,
            value: text(v),
        },
    );
}

/// fnmatch(3) with no flags: `*`, `?`, bracket expressions (`!`/`^` negation, ranges) and
/// backslash escapes; `*` and `?` match '/' too.
pub fn fnmatch(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let (mut star_p, mut star_i) = (usize::MAX, 0usize);
    while i < s.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star_p = p;
                    star_i = i;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, len)) = bracket(&pattern[p..], s[i]) {
                        if ok {
                            p += len;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == s[i] {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[i] {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        p = star_p + 1;
        star_i += 1;
        i = star_i;
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the bracket expression at the start of `pat`: (matched, length), or
/// None when the bracket is not closed (then '[' is literal).
fn bracket(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut k = 1;
    let neg = matches!(pat.get(k), Some(b'!') | Some(b'^'));
    if neg {
        k += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *pat.get(k)?;
        if ch == b']' && !first {
            return Some((matched != neg, k + 1));
        }
        first = false;
        let lo = if ch == b'\\' {
            k += 1;
            *pat.get(k)?
        } else {
            ch
        };
        if pat.get(k + 1) == Some(&b'-') && pat.get(k + 2).is_some_and(|&h| h != b']') {
            let hi = pat[k + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            k += 3;
        } else {
            if lo == c {
                matched = true;
            }
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_basics() {
        assert!(fnmatch(b"pci:v*d*sv*", b"pci:v1234d5sv9"));
        assert!(fnmatch(b"a?c", b"abc"));
        assert!(!fnmatch(b"a?c", b"ac"));
        assert!(fnmatch(b"x[0-9]y", b"x5y"));
        assert!(!fnmatch(b"x[!0-9]y", b"x5y"));
        assert!(fnmatch(b"x[]]y", b"x]y"));
        assert!(fnmatch(b"*", b""));
        assert!(!fnmatch(b"abc", b"abcd"));
        assert!(fnmatch(b"a*b*c", b"aXXbYYc"));
    }

    #[test]
    fn write_then_read() {
        let mut t = TrieBuilder::new();
        t.insert("ext4", "kernel/fs/ext4.ko: a b", 0).unwrap();
        t.insert("ext3", "x", 0).unwrap();
        t.insert("e", "y", 0).unwrap();
        t.insert("pci:v*d00001234*", "m1", 0).unwrap();
        t.insert("pci:v00008086d*", "m2", 0).unwrap();
        t.insert("pci:v00008086d*", "m3", 0).unwrap();
        let bytes = t.to_bytes();
        let r = Trie::from_bytes(Path::new("t"), bytes).unwrap();
        assert_eq!(
            r.search("ext4").unwrap().as_deref(),
            Some("kernel/fs/ext4.ko: a b")
        );
        assert_eq!(r.search("e").unwrap().as_deref(), Some("y"));
        assert_eq!(r.search("ex").unwrap(), None);
        let w: Vec<String> = r
            .search_wild("pci:v00008086d00001234sv0")
            .unwrap()
            .into_iter()
            .map(|v| v.value)
            .collect();
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!(r.entries().unwrap().len(), 6);
    }

    proptest::proptest! {
        /// Damaged index files give errors or answers, never a panic or a hang.
        #[test]
        fn damaged_indexes_never_panic(flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..12),
                                       cut in proptest::prelude::any::<usize>(),
                                       key in "[a-z:*?_]{0,12}") {
            let mut b = TrieBuilder::new();
            for (k, v) in [("ext4", "a"), ("ext3", "b"), ("pci:v*d1234*", "c"), ("usb:v1p*", "d"), ("e", "f")] {
                b.insert(k, v, 1).unwrap();
            }
            let mut bytes = b.to_bytes();
            let n = bytes.len();
            for (i, x) in flips {
                bytes[12 + i % (n - 12)] ^= x;
            }
            bytes.truncate(cut % (n + 1));
            if let Ok(t) = Trie::from_bytes(Path::new("x.bin"), bytes) {
                let _ = t.search(&key);
                let _ = t.search_wild(&key);
                let _ = t.entries();
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let p = Path::new("bad.bin");
        assert!(Trie::from_bytes(p, b"junk".to_vec()).is_err());
        let mut b = TrieBuilder::new();
        b.insert("abc", "v", 0).unwrap();
        let mut bytes = b.to_bytes();
        let n = bytes.len();
        bytes.truncate(n - 3);
        if let Ok(t) = Trie::from_bytes(p, bytes) {
            let _ = t.search("abc");
            let _ = t.search_wild("abc");
        }
    }

    /// Index bytes from raw node records: `nodes` are appended after the header in order
    /// and the root offset (with its flag bits) is `root`.
    fn raw_index(body: &[u8], root: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&root.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn non_ascii_keys_and_values_are_refused() {
        let mut b = TrieBuilder::new();
        assert!(!b.insert("ext4", "a", 0).unwrap());
        let before = b.to_bytes();
        match b.insert("caf\u{e9}", "m", 0) {
            Err(Error::BadIndexKey { key, part, byte }) => {
                assert_eq!((key.as_str(), part, byte), ("caf\u{e9}", "key", 0xc3));
            }
            other => panic!("{other:?}"),
        }
        // Values may hold any byte but NUL, as kmod writes them (a path with 'é').
        let mut v = TrieBuilder::new();
        assert!(!v.insert("sym", "kernel/a.x\u{e9}.ko:", 0).unwrap());
        let t = Trie::from_bytes(Path::new("v.bin"), v.to_bytes()).unwrap();
        assert_eq!(
            t.search("sym").unwrap().as_deref(),
            Some("kernel/a.x\u{e9}.ko:")
        );
        match b.insert("sym", "m\0", 0) {
            Err(e @ Error::BadIndexKey { part: "value", .. }) => {
                assert!(e.to_string().contains("\"sym\""), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            b.insert("a\0b", "m", 0),
            Err(Error::BadIndexKey { byte: 0, .. })
        ));
        assert!(b.insert("x", "a\0", 0).is_err());
        // A byte >= 0x80 at a split point (the old panic: index 239 of 128 slots).
        assert!(b.insert("ext\u{f0}\u{9f}\u{98}\u{80}", "m", 0).is_err());
        assert_eq!(
            b.to_bytes(),
            before,
            "refused inserts leave the index unchanged"
        );
    }

    /// A chain 30,000 nodes deep under a '*' root: walked without recursion, on a small
    /// stack.
    #[test]
    fn deep_chain_does_not_overflow_the_stack() {
        const DEPTH: usize = 30_000;
        let mut body = Vec::new();
        // The leaf, at offset 12: one value.
        let leaf = 12 | F_VALUES;
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(b"deep\0");
        let mut child = leaf;
        for _ in 0..DEPTH {
            let off = (12 + body.len()) as u32 | F_CHILDS;
            body.extend_from_slice(b"aa");
            body.extend_from_slice(&child.to_be_bytes());
            child = off;
        }
        let root = (12 + body.len()) as u32 | F_PREFIX | F_CHILDS;
        body.extend_from_slice(b"*\0aa");
        body.extend_from_slice(&child.to_be_bytes());
        let bytes = raw_index(&body, root);
        let run = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                let t = Trie::from_bytes(Path::new("deep.bin"), bytes).unwrap();
                // The root's child and each chain node add one 'a'.
                let w = t.search_wild(&"a".repeat(DEPTH + 1)).unwrap();
                assert_eq!(w.len(), 1);
                assert_eq!(w[0].value, "deep");
                let e = t.entries().unwrap();
                assert_eq!(e.len(), 1);
                assert_eq!(e[0].0.len(), 2 + DEPTH);
                let key = format!("*{}", "a".repeat(DEPTH + 1));
                assert_eq!(t.search(&key).unwrap().as_deref(), Some("deep"));
            })
            .unwrap();
        run.join().unwrap();
    }

    /// 64 layers whose two children are the same node: 2^64 paths in a few hundred
    /// bytes. Kmod never shares nodes, so this is a corrupt index, found at once.
    #[test]
    fn shared_children_are_a_corrupt_index() {
        let mut body = Vec::new();
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(b"v\0");
        let mut child = 12 | F_VALUES;
        for _ in 0..64 {
            let off = (12 + body.len()) as u32 | F_CHILDS | F_VALUES;
            body.extend_from_slice(b"?@");
            body.extend_from_slice(&child.to_be_bytes());
            body.extend_from_slice(&child.to_be_bytes());
            body.extend_from_slice(&1u32.to_be_bytes());
            body.extend_from_slice(&0u32.to_be_bytes());
            body.extend_from_slice(b"w\0");
            child = off;
        }
        let root = (12 + body.len()) as u32 | F_PREFIX | F_CHILDS;
        body.extend_from_slice(b"*\0??");
        body.extend_from_slice(&child.to_be_bytes());
        let t = Trie::from_bytes(Path::new("dag.bin"), raw_index(&body, root)).unwrap();
        let start = std::time::Instant::now();
        // Every layer's two characters ("?" and "@") match the query's "@"s, so no subtree
        // can be passed by as unable to match: the walk must meet the shared nodes.
        match t.search_wild(&"@".repeat(70)) {
            Err(Error::BadIndex { path, reason }) => {
                assert_eq!(path, Path::new("dag.bin"));
                assert!(reason.contains("twice"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(t.entries().is_err());
        // Exact lookups follow one path and stay correct.
        assert_eq!(t.search("*??@").unwrap().as_deref(), Some("w"));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    /// kmod 34's layout of three keys, written out by hand from its format (root at 12,
    /// children after their parent): the reader finds every key, and a child link that
    /// points back (to the root, to itself) is refused as a loop, not followed.
    #[test]
    fn root_first_layout_is_read_and_its_loops_refused() {
        // root: children 'a'..'b'; 'a': prefix "b", values ["ab"]; 'b': values ["b"].
        let root = 12 | F_CHILDS;
        let a = 12 + 2 + 8;
        let b = a + 2 + 4 + 4 + 3;
        let mut body = vec![b'a', b'b'];
        body.extend_from_slice(&(a | F_PREFIX | F_VALUES).to_be_bytes());
        body.extend_from_slice(&(b | F_VALUES).to_be_bytes());
        body.extend_from_slice(b"b\0");
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(b"ab\0");
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(b"b\0");
        let good = raw_index(&body, root);
        let t = Trie::from_bytes(Path::new("pre.bin"), good.clone()).unwrap();
        assert_eq!(t.layout(), Layout::PreOrder);
        assert_eq!(t.search("ab").unwrap().as_deref(), Some("ab"));
        assert_eq!(t.search("b").unwrap().as_deref(), Some("b"));
        assert_eq!(t.entries().unwrap().len(), 2);
        // The same keys from the writer: the same bytes.
        let mut w = TrieBuilder::new();
        w.insert("b", "b", 0).unwrap();
        w.insert("ab", "ab", 0).unwrap();
        assert_eq!(w.to_bytes_as(Layout::PreOrder), good);
        for bad_child in [root, root | F_PREFIX] {
            let mut body = body.clone();
            // 'b' now points back at the root.
            body[6..10].copy_from_slice(&bad_child.to_be_bytes());
            let t = Trie::from_bytes(Path::new("loop.bin"), raw_index(&body, root)).unwrap();
            match t.search("bb") {
                Err(Error::BadIndex { path, reason }) => {
                    assert_eq!(path, Path::new("loop.bin"));
                    assert!(reason.contains("loop"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
            assert!(t.entries().is_err());
            assert!(t.search_wild("b").is_err());
        }
    }

    /// A chain 30,000 nodes deep written root first: read without recursion, and a chain
    /// whose last link points back to its first node is refused.
    #[test]
    fn deep_root_first_chain() {
        const DEPTH: u32 = 30_000;
        // Root at 12: prefix "*", one child 'a' (8 bytes); then DEPTH chain nodes of one
        // child 'a' each (6 bytes); then the leaf with one value.
        let chain = |last_link: Option<u32>| {
            let mut body = Vec::new();
            body.extend_from_slice(b"*\0aa");
            body.extend_from_slice(&(20 | F_CHILDS).to_be_bytes());
            for i in 0..DEPTH {
                let next = 20 + (i + 1) * 6;
                let link = match (i + 1 == DEPTH, last_link) {
                    (true, Some(l)) => l,
                    (true, None) => next | F_VALUES,
                    (false, _) => next | F_CHILDS,
                };
                body.extend_from_slice(b"aa");
                body.extend_from_slice(&link.to_be_bytes());
            }
            body.extend_from_slice(&1u32.to_be_bytes());
            body.extend_from_slice(&0u32.to_be_bytes());
            body.extend_from_slice(b"deep\0");
            raw_index(&body, 12 | F_PREFIX | F_CHILDS)
        };
        let (good, looped) = (chain(None), chain(Some(20 | F_CHILDS)));
        let run = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                let t = Trie::from_bytes(Path::new("deep.bin"), good).unwrap();
                let key = format!("*{}", "a".repeat(DEPTH as usize + 1));
                assert_eq!(t.search(&key).unwrap().as_deref(), Some("deep"));
                assert_eq!(t.search_wild(&key[1..]).unwrap().len(), 1);
                assert_eq!(t.entries().unwrap().len(), 1);
                let t = Trie::from_bytes(Path::new("loop.bin"), looped).unwrap();
                assert!(t.search(&key).is_err());
                assert!(t.search_wild(&key[1..]).is_err());
                assert!(t.entries().is_err());
            })
            .unwrap();
        run.join().unwrap();
    }

    #[test]
    fn wildcard_keys_in_the_query_are_not_mistaken_for_sharing() {
        let mut b = TrieBuilder::new();
        b.insert("a*", "star", 0).unwrap();
        b.insert("a*b*", "two", 1).unwrap();
        b.insert("a?c", "q", 2).unwrap();
        let t = Trie::from_bytes(Path::new("w.bin"), b.to_bytes()).unwrap();
        let got: Vec<String> = t
            .search_wild("a*b*")
            .unwrap()
            .into_iter()
            .map(|v| v.value)
            .collect();
        assert_eq!(got, ["star", "two", "two"]);
    }

    /// Expected exact-lookup answer: lowest priority; among equals the last inserted.
    fn model_first(entries: &[(String, String, u32)], key: &str) -> Option<String> {
        let mut best: Option<&(String, String, u32)> = None;
        for e in entries.iter().filter(|e| e.0 == key) {
            if best.is_none_or(|b| e.2 <= b.2) {
                best = Some(e);
            }
        }
        best.map(|e| e.1.clone())
    }

    fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            4 => "[a-c*?\\[\\]:_]{0,6}",
            1 => "[\\x00-\\x7f]{0,6}",
            1 => any::<String>(),
        ]
    }

    proptest::proptest! {
        /// The writer never panics; whatever it accepted reads back by exact lookup.
        #[test]
        fn writer_round_trips(items in proptest::collection::vec((any_text(), any_text(), 0u32..3), 0..40)) {
            let mut b = TrieBuilder::new();
            let mut kept = Vec::new();
            for (k, v, p) in items {
                let ascii = |s: &str| s.bytes().all(|c| c != 0 && c < 0x80);
                let no_nul = |s: &str| !s.contains('\0');
                match b.insert(&k, &v, p) {
                    Ok(_) => {
                        proptest::prop_assert!(ascii(&k) && no_nul(&v));
                        kept.push((k, v, p));
                    }
                    Err(Error::BadIndexKey { .. }) => proptest::prop_assert!(!(ascii(&k) && no_nul(&v))),
                    Err(e) => proptest::prop_assert!(false, "{e}"),
                }
            }
            for layout in [Layout::PostOrder, Layout::PreOrder] {
                let t = Trie::from_bytes(Path::new("rt.bin"), b.to_bytes_as(layout)).unwrap();
                for (k, _, _) in &kept {
                    proptest::prop_assert_eq!(t.search(k).unwrap(), model_first(&kept, k));
                }
                proptest::prop_assert_eq!(t.entries().unwrap().len(), kept.len());
                for (k, _, _) in &kept {
                    let _ = t.search_wild(k).unwrap();
                }
            }
        }

        /// kmod 34's layout holds the same nodes as kmod 30's, in another order: same
        /// length, same entries, same answers to wildcard lookups; its root is at 12 and
        /// the reader tells the two apart.
        #[test]
        fn both_layouts_hold_the_same_trie(items in proptest::collection::vec(("[a-d*?]{0,5}|[\\x01-\\x7f]{0,3}", "[a-z]{0,3}", 0u32..3), 0..60),
                                           query in "[a-d]{0,5}") {
            let mut b = TrieBuilder::new();
            for (k, v, p) in &items {
                b.insert(k, v, *p).unwrap();
            }
            let (post, pre) = (b.to_bytes(), b.to_bytes_as(Layout::PreOrder));
            proptest::prop_assert_eq!(post.len(), pre.len());
            proptest::prop_assert_eq!(&pre[8..12], &(12 | (u32::from_be_bytes([pre[8], pre[9], pre[10], pre[11]]) & !MASK)).to_be_bytes()[..]);
            let a = Trie::from_bytes(Path::new("post.bin"), post).unwrap();
            let z = Trie::from_bytes(Path::new("pre.bin"), pre).unwrap();
            proptest::prop_assert_eq!(z.layout(), Layout::PreOrder);
            if !items.is_empty() && items.iter().any(|(k, _, _)| !k.is_empty()) {
                proptest::prop_assert_eq!(a.layout(), Layout::PostOrder);
            }
            proptest::prop_assert_eq!(a.entries().unwrap(), z.entries().unwrap());
            proptest::prop_assert_eq!(a.search_wild(&query).unwrap(), z.search_wild(&query).unwrap());
            proptest::prop_assert_eq!(a.search(&query).unwrap(), z.search(&query).unwrap());
        }

        /// Random bytes after a valid header never panic a reader.
        #[test]
        fn random_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
                                     root in proptest::prelude::any::<u32>(),
                                     key in "[a-c*?]{0,6}") {
            if let Ok(t) = Trie::from_bytes(Path::new("r.bin"), raw_index(&body, root)) {
                let _ = t.search(&key);
                let _ = t.search_wild(&key);
                let _ = t.entries();
            }
        }
    }

    /// The builder rprobe had before the sorted layout (a node per key prefix, placed as
    /// keys arrive, 128-slot child tables), kept as the model the sorted layout must equal
    /// byte for byte; it was checked against kmod's depmod on real trees.
    mod node_model {
        use super::super::{Value, F_CHILDS, F_PREFIX, F_VALUES, MAGIC, VERSION};

        #[derive(Default)]
        struct Node {
            prefix: Vec<u8>,
            children: Vec<Option<Box<Node>>>,
            values: Vec<Value>,
        }

        #[derive(Default)]
        pub(super) struct Model {
            root: Node,
        }

        impl Model {
            pub(super) fn insert(&mut self, key: &[u8], value: &str, priority: u32) {
                let mut node = &mut self.root;
                let mut i = 0;
                loop {
                    let plen = node.prefix.len();
                    if let Some(j) = (0..plen).find(|&j| key.get(i + j) != Some(&node.prefix[j])) {
                        let ch = node.prefix[j];
                        let mut tail = std::mem::take(node);
                        node.prefix = tail.prefix[..j].to_vec();
                        tail.prefix = tail.prefix[j + 1..].to_vec();
                        node.children.resize_with(128, || None);
                        node.children[ch as usize] = Some(Box::new(tail));
                    }
                    i += node.prefix.len();
                    let v = Value {
                        priority,
                        value: value.to_string(),
                    };
                    let Some(&ch) = key.get(i) else {
                        let pos = node
                            .values
                            .iter()
                            .position(|v| v.priority >= priority)
                            .unwrap_or(node.values.len());
                        node.values.insert(pos, v);
                        return;
                    };
                    if node.children.is_empty() {
                        node.children.resize_with(128, || None);
                    }
                    let slot = &mut node.children[ch as usize];
                    if slot.is_none() {
                        *slot = Some(Box::new(Node {
                            prefix: key[i + 1..].to_vec(),
                            children: Vec::new(),
                            values: vec![v],
                        }));
                        return;
                    }
                    node = slot.as_mut().map(|b| &mut **b).expect("present");
                    i += 1;
                }
            }

            pub(super) fn to_bytes(&self) -> Vec<u8> {
                let mut out = Vec::new();
                out.extend_from_slice(&MAGIC.to_be_bytes());
                out.extend_from_slice(&VERSION.to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes());
                let root = write(&self.root, &mut out);
                out[8..12].copy_from_slice(&root.to_be_bytes());
                out
            }
        }

        fn write(node: &Node, out: &mut Vec<u8>) -> u32 {
            let first = node.children.iter().position(|c| c.is_some());
            let last = node.children.iter().rposition(|c| c.is_some());
            let mut offs = Vec::new();
            if let (Some(f), Some(l)) = (first, last) {
                for c in &node.children[f..=l] {
                    offs.push(c.as_ref().map_or(0, |c| write(c, out)));
                }
            }
            let mut offset = out.len() as u32;
            if !node.prefix.is_empty() {
                out.extend_from_slice(&node.prefix);
                out.push(0);
                offset |= F_PREFIX;
            }
            if let (Some(f), Some(l)) = (first, last) {
                out.push(f as u8);
                out.push(l as u8);
                for c in offs {
                    out.extend_from_slice(&c.to_be_bytes());
                }
                offset |= F_CHILDS;
            }
            if !node.values.is_empty() {
                out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
                for v in &node.values {
                    out.extend_from_slice(&v.priority.to_be_bytes());
                    out.extend_from_slice(v.value.as_bytes());
                    out.push(0);
                }
                offset |= F_VALUES;
            }
            offset
        }
    }

    proptest::proptest! {
        /// The sorted layout writes exactly the bytes the node-by-node builder wrote, for
        /// keys that share prefixes, end inside each other, are empty or repeat.
        #[test]
        fn reach_agrees_with_fnmatch(pat in "[ab*?]{0,8}", q in "[ab]{0,8}", ext in "[ab*?]{0,4}") {
            let r = Reach::new(q.as_bytes());
            let at = r.advance(r.start(), pat.as_bytes());
            proptest::prop_assert_eq!(at.map(|a| r.matched(a)), Some(fnmatch(pat.as_bytes(), q.as_bytes())));
            // An empty set: no continuation of the pattern matches.
            if at == Some(0) {
                let longer = format!("{pat}{ext}");
                proptest::prop_assert!(!fnmatch(longer.as_bytes(), q.as_bytes()));
            }
        }

        #[test]
        fn pruned_wildcard_search_equals_the_full_walk(
            items in proptest::collection::vec(("[ab*?\\[\\]!-]{0,6}", "[a-z]{0,3}", 0u32..3), 0..60),
            queries in proptest::collection::vec("[ab\\[-]{0,7}", 1..8),
            pre in proptest::prelude::any::<bool>(),
        ) {
            let mut b = TrieBuilder::new();
            for (k, v, p) in &items {
                b.insert(k, v, *p).unwrap();
            }
            let layout = if pre { Layout::PreOrder } else { Layout::PostOrder };
            let t = Trie::from_bytes(Path::new("t.bin"), b.to_bytes_as(layout)).unwrap();
            for q in &queries {
                proptest::prop_assert_eq!(t.search_wild_with(q, true).unwrap(), t.search_wild_with(q, false).unwrap());
            }
        }

        #[test]
        fn sorted_layout_equals_the_node_model(items in proptest::collection::vec(("[a-d]{0,5}|[\\x01-\\x7f]{0,3}", "[a-z]{0,3}", 0u32..3), 0..60)) {
            let mut b = TrieBuilder::new();
            let mut m = node_model::Model::default();
            for (k, v, p) in &items {
                b.insert(k, v, *p).unwrap();
                m.insert(k.as_bytes(), v, *p);
            }
            proptest::prop_assert_eq!(b.to_bytes(), m.to_bytes());
        }

        /// The in-place exact walk answers as a map does, in both layouts: each key its
        /// value, every other string (prefixes of keys, keys extended) nothing.
        #[test]
        fn exact_lookups_answer_as_a_map(items in proptest::collection::btree_map("[a-d]{0,6}", "[a-z]{1,3}", 0..50),
                                         probes in proptest::collection::vec("[a-e]{0,7}", 0..40)) {
            let mut b = TrieBuilder::new();
            for (k, v) in &items {
                b.insert(k, v, 0).unwrap();
            }
            for layout in [Layout::PostOrder, Layout::PreOrder] {
                let t = Trie::from_bytes(Path::new("x.bin"), b.to_bytes_as(layout)).unwrap();
                for q in items.keys().chain(&probes) {
                    proptest::prop_assert_eq!(t.search(q).unwrap(), items.get(q).cloned(), "{:?} {:?}", layout, q);
                }
            }
        }
    }
}
