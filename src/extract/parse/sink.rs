//! Tree sinks that count their work: scraper's, and a probe that stands in for ammonia's.

use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell};
use std::sync::LazyLock;

use html5ever::tendril::StrTendril;
use html5ever::tree_builder::{Attribute, ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{QualName, local_name, ns};
use scraper::HtmlTreeSink;

use super::MAX_ATTRIBUTES;

/// Work and creations of a tree sink.
#[derive(Debug, Default)]
pub(super) struct Meter {
    /// Steps: handles compared or named, nodes moved or searched, attributes handled.
    pub(super) work: Cell<u64>,
    /// Elements created.
    pub(super) created: Cell<u64>,
    /// Elements, other nodes and attributes created.
    pub(super) nodes: Cell<u64>,
}

impl Meter {
    fn step(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.work.set(self.work.get().saturating_add(n));
    }

    fn node(&self, attrs: usize) {
        let n = u64::try_from(attrs).unwrap_or(u64::MAX).saturating_add(1);
        self.nodes.set(self.nodes.get().saturating_add(n));
        self.work.set(self.work.get().saturating_add(n));
    }

    fn element(&self, attrs: usize) {
        self.created.set(self.created.get().saturating_add(1));
        self.node(attrs);
    }
}

pub(super) trait Metering {
    fn meter(&self) -> &Meter;

    /// Work that is only known once the tree is complete.
    fn closing_work(&self) -> u64 {
        0
    }
}

/// Bytes html5ever's serializer searches per unit of work (it searches with `memchr`).
const SEARCHED_PER_UNIT: usize = 16;

/// What html5ever's serializer costs to escape `text`: after each `&` or no-break space it
/// searches the text for the next `<` or `>` (and `"` in attribute values) again.
fn escape_cost(text: &str, attr: bool) -> usize {
    let mut cost = 0usize;
    let mut stop = text.len();
    for (i, &c) in text.as_bytes().iter().enumerate().rev() {
        match c {
            b'<' | b'>' => stop = i,
            b'"' if attr => stop = i,
            b'&' | 0xC2 => cost = cost.saturating_add(stop - i),
            _ => {}
        }
    }
    cost / SEARCHED_PER_UNIT
}

/// scraper's tree sink, counted.
pub(super) struct Metered {
    pub(super) inner: HtmlTreeSink,
    meter: Meter,
}

impl Metered {
    pub(super) fn new(inner: HtmlTreeSink) -> Self {
        Metered {
            inner,
            meter: Meter::default(),
        }
    }

    fn children(&self, node: &ego_tree::NodeId) -> usize {
        self.inner
            .0
            .borrow()
            .tree
            .get(*node)
            .map_or(0, |n| n.children().count())
    }
}

impl Metering for Metered {
    fn meter(&self) -> &Meter {
        &self.meter
    }
}

impl TreeSink for Metered {
    type Handle = <HtmlTreeSink as TreeSink>::Handle;
    type Output = Self;
    type ElemName<'a> = <HtmlTreeSink as TreeSink>::ElemName<'a>;

    fn finish(self) -> Self {
        self
    }
    fn parse_error(&self, msg: Cow<'static, str>) {
        self.inner.parse_error(msg)
    }
    fn get_document(&self) -> Self::Handle {
        self.inner.get_document()
    }
    fn elem_name<'a>(&'a self, target: &'a Self::Handle) -> Self::ElemName<'a> {
        self.meter.step(1);
        self.inner.elem_name(target)
    }
    fn create_element(
        &self,
        name: QualName,
        attrs: Vec<Attribute>,
        flags: ElementFlags,
    ) -> Self::Handle {
        self.meter.element(attrs.len());
        self.inner.create_element(name, attrs, flags)
    }
    fn create_comment(&self, text: StrTendril) -> Self::Handle {
        self.meter.node(0);
        self.inner.create_comment(text)
    }
    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Self::Handle {
        self.meter.node(0);
        self.inner.create_pi(target, data)
    }
    fn append(&self, parent: &Self::Handle, child: NodeOrText<Self::Handle>) {
        self.meter.step(1);
        self.inner.append(parent, child)
    }
    fn append_based_on_parent_node(
        &self,
        element: &Self::Handle,
        prev_element: &Self::Handle,
        child: NodeOrText<Self::Handle>,
    ) {
        self.meter.step(1);
        self.inner
            .append_based_on_parent_node(element, prev_element, child)
    }
    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.meter.node(0);
        self.inner
            .append_doctype_to_document(name, public_id, system_id)
    }
    fn mark_script_already_started(&self, node: &Self::Handle) {
        self.inner.mark_script_already_started(node)
    }
    fn pop(&self, node: &Self::Handle) {
        self.inner.pop(node)
    }
    fn get_template_contents(&self, target: &Self::Handle) -> Self::Handle {
        self.inner.get_template_contents(target)
    }
    fn same_node(&self, x: &Self::Handle, y: &Self::Handle) -> bool {
        self.meter.step(1);
        self.inner.same_node(x, y)
    }
    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode)
    }
    fn append_before_sibling(&self, sibling: &Self::Handle, new_node: NodeOrText<Self::Handle>) {
        self.meter.step(1);
        self.inner.append_before_sibling(sibling, new_node)
    }
    fn add_attrs_if_missing(&self, target: &Self::Handle, attrs: Vec<Attribute>) {
        // A sorted insert per attribute.
        self.meter.step(attrs.len().saturating_mul(MAX_ATTRIBUTES));
        self.inner.add_attrs_if_missing(target, attrs)
    }
    fn associate_with_form(
        &self,
        target: &Self::Handle,
        form: &Self::Handle,
        nodes: (&Self::Handle, Option<&Self::Handle>),
    ) {
        self.inner.associate_with_form(target, form, nodes)
    }
    fn remove_from_parent(&self, target: &Self::Handle) {
        self.meter.step(1);
        self.inner.remove_from_parent(target)
    }
    fn reparent_children(&self, node: &Self::Handle, new_parent: &Self::Handle) {
        self.meter.step(self.children(node).saturating_add(1));
        self.inner.reparent_children(node, new_parent)
    }
    fn is_mathml_annotation_xml_integration_point(&self, handle: &Self::Handle) -> bool {
        self.inner
            .is_mathml_annotation_xml_integration_point(handle)
    }
    fn set_current_line(&self, line_number: u64) {
        self.inner.set_current_line(line_number)
    }
    fn allow_declarative_shadow_roots(&self, intended_parent: &Self::Handle) -> bool {
        self.inner.allow_declarative_shadow_roots(intended_parent)
    }
    fn attach_declarative_shadow(
        &self,
        location: &Self::Handle,
        template: &Self::Handle,
        attrs: &[Attribute],
    ) -> bool {
        self.inner
            .attach_declarative_shadow(location, template, attrs)
    }
    fn maybe_clone_an_option_into_selectedcontent(&self, option: &Self::Handle) {
        self.inner
            .maybe_clone_an_option_into_selectedcontent(option)
    }
}

const NONE: usize = usize::MAX;

static NO_NAME: LazyLock<QualName> = LazyLock::new(|| QualName::new(None, ns!(), local_name!("")));

/// One node of a probe tree: linked to its parent and siblings.
#[derive(Debug)]
struct ProbeNode {
    name: QualName,
    text: bool,
    integration_point: bool,
    attrs: usize,
    template_contents: usize,
    parent: usize,
    prev: usize,
    next: usize,
    first: usize,
    last: usize,
    /// How many children it has.
    count: usize,
    /// For text: its length, and the `&` and no-break spaces after its last `<` or `>` (how
    /// many, and the sum of their offsets), whose escaping cost is not known yet.
    len: usize,
    escapes: usize,
    escape_offsets: usize,
}

impl ProbeNode {
    fn new(name: QualName) -> Self {
        ProbeNode {
            name,
            text: false,
            integration_point: false,
            attrs: 0,
            template_contents: NONE,
            parent: NONE,
            prev: NONE,
            next: NONE,
            first: NONE,
            last: NONE,
            count: 0,
            len: 0,
            escapes: 0,
            escape_offsets: 0,
        }
    }

    /// Text appended: count what serializing it will cost.
    fn add_text(&mut self, text: &str, meter: &Meter) {
        for (i, &c) in text.as_bytes().iter().enumerate() {
            let at = self.len.saturating_add(i);
            match c {
                b'&' | 0xC2 => {
                    self.escapes += 1;
                    self.escape_offsets = self.escape_offsets.saturating_add(at);
                }
                b'<' | b'>' => meter.step(self.resolve(at)),
                _ => {}
            }
        }
        self.len = self.len.saturating_add(text.len());
    }

    /// The cost of the pending escapes when the next stop is at `at`.
    fn resolve(&mut self, at: usize) -> usize {
        let searched = self
            .escapes
            .saturating_mul(at)
            .saturating_sub(self.escape_offsets);
        self.escapes = 0;
        self.escape_offsets = 0;
        searched / SEARCHED_PER_UNIT
    }
}

/// A tree that keeps only what the tree builder asks about (names, integration points) and
/// what ammonia's `RcDom` pays for: children lists searched and shifted (foster parenting,
/// the adoption agency), attributes merged, and what html5ever's serializer will cost on its
/// texts and attribute values. It keeps no text or attribute values, and each of its own
/// steps costs a constant.
pub(super) struct Probe {
    nodes: RefCell<Vec<ProbeNode>>,
    meter: Meter,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            nodes: RefCell::new(vec![ProbeNode::new(NO_NAME.clone())]),
            meter: Meter::default(),
        }
    }
}

impl Metering for Probe {
    fn meter(&self) -> &Meter {
        &self.meter
    }

    fn closing_work(&self) -> u64 {
        let mut work = 0u64;
        for n in self.nodes.borrow_mut().iter_mut().filter(|n| n.text) {
            let cost = n.resolve(n.len);
            work = work.saturating_add(u64::try_from(cost).unwrap_or(u64::MAX));
        }
        work
    }
}

impl Probe {
    fn push(&self, node: ProbeNode) -> usize {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(node);
        nodes.len() - 1
    }

    fn text_node(&self, text: &str) -> usize {
        self.meter.node(0);
        let mut n = ProbeNode::new(NO_NAME.clone());
        n.text = true;
        n.add_text(text, &self.meter);
        self.push(n)
    }

    /// Append `text` to `node` if it is a text node.
    fn merge_text(&self, node: usize, text: &str) -> bool {
        let mut nodes = self.nodes.borrow_mut();
        match nodes.get_mut(node) {
            Some(n) if n.text => {
                n.add_text(text, &self.meter);
                true
            }
            _ => false,
        }
    }

    fn get(&self, node: usize, field: impl Fn(&ProbeNode) -> usize) -> usize {
        self.nodes.borrow().get(node).map_or(NONE, field)
    }

    /// Detach `node` from its parent; `RcDom` searches the parent's children for it and
    /// shifts the ones after it.
    fn detach(&self, node: usize) {
        let parent = self.get(node, |n| n.parent);
        if parent != NONE {
            self.meter.step(self.get(parent, |p| p.count));
        }
        self.unlink(node);
    }

    fn unlink(&self, node: usize) {
        let mut nodes = self.nodes.borrow_mut();
        let Some(n) = nodes.get_mut(node) else {
            return;
        };
        let (parent, prev, next) = (n.parent, n.prev, n.next);
        n.parent = NONE;
        n.prev = NONE;
        n.next = NONE;
        if let Some(p) = nodes.get_mut(parent) {
            p.count = p.count.saturating_sub(1);
            if p.first == node {
                p.first = next;
            }
            if p.last == node {
                p.last = prev;
            }
        }
        if let Some(p) = nodes.get_mut(prev) {
            p.next = next;
        }
        if let Some(n) = nodes.get_mut(next) {
            n.prev = prev;
        }
    }

    /// Link `child` (detached) into `parent`, before `before` or last.
    fn link(&self, parent: usize, child: usize, before: usize) {
        let mut nodes = self.nodes.borrow_mut();
        let prev = match nodes.get(before) {
            Some(b) if b.parent == parent => b.prev,
            _ => nodes.get(parent).map_or(NONE, |p| p.last),
        };
        let next = if nodes.get(before).is_some_and(|b| b.parent == parent) {
            before
        } else {
            NONE
        };
        if let Some(c) = nodes.get_mut(child) {
            c.parent = parent;
            c.prev = prev;
            c.next = next;
        }
        if let Some(p) = nodes.get_mut(prev) {
            p.next = child;
        }
        if let Some(n) = nodes.get_mut(next) {
            n.prev = child;
        }
        if let Some(p) = nodes.get_mut(parent) {
            p.count = p.count.saturating_add(1);
            if prev == NONE {
                p.first = child;
            }
            if next == NONE {
                p.last = child;
            }
        }
    }
}

impl TreeSink for Probe {
    type Handle = usize;
    type Output = Self;
    type ElemName<'a> = Ref<'a, QualName>;

    fn finish(self) -> Self {
        self
    }
    fn parse_error(&self, _msg: Cow<'static, str>) {}
    fn get_document(&self) -> usize {
        0
    }
    fn elem_name<'a>(&'a self, target: &'a usize) -> Ref<'a, QualName> {
        self.meter.step(1);
        Ref::map(self.nodes.borrow(), |n| {
            n.get(*target).map_or(&*NO_NAME, |n| &n.name)
        })
    }
    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> usize {
        self.meter.element(attrs.len());
        for a in &attrs {
            self.meter.step(escape_cost(&a.value, true));
        }
        let contents = if flags.template {
            self.push(ProbeNode::new(NO_NAME.clone()))
        } else {
            NONE
        };
        let mut n = ProbeNode::new(name);
        n.integration_point = flags.mathml_annotation_xml_integration_point;
        n.attrs = attrs.len();
        n.template_contents = contents;
        self.push(n)
    }
    fn create_comment(&self, _text: StrTendril) -> usize {
        self.meter.node(0);
        self.push(ProbeNode::new(NO_NAME.clone()))
    }
    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> usize {
        self.meter.node(0);
        self.push(ProbeNode::new(NO_NAME.clone()))
    }
    fn append(&self, parent: &usize, child: NodeOrText<usize>) {
        self.meter.step(1);
        let child = match child {
            NodeOrText::AppendText(text) => {
                if self.merge_text(self.get(*parent, |p| p.last), &text) {
                    return;
                }
                self.text_node(&text)
            }
            NodeOrText::AppendNode(node) => node,
        };
        self.link(*parent, child, NONE);
    }
    fn append_based_on_parent_node(
        &self,
        element: &usize,
        prev_element: &usize,
        child: NodeOrText<usize>,
    ) {
        if self.get(*element, |n| n.parent) != NONE {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }
    fn append_doctype_to_document(
        &self,
        _name: StrTendril,
        _public: StrTendril,
        _system: StrTendril,
    ) {
        self.meter.node(0);
        let n = self.push(ProbeNode::new(NO_NAME.clone()));
        self.link(0, n, NONE);
    }
    fn get_template_contents(&self, target: &usize) -> usize {
        match self.get(*target, |n| n.template_contents) {
            NONE => *target,
            c => c,
        }
    }
    fn same_node(&self, x: &usize, y: &usize) -> bool {
        self.meter.step(1);
        x == y
    }
    fn set_quirks_mode(&self, _mode: QuirksMode) {}
    fn append_before_sibling(&self, sibling: &usize, new_node: NodeOrText<usize>) {
        let parent = self.get(*sibling, |n| n.parent);
        if parent == NONE {
            return;
        }
        // Found by a search, then inserted by shifting the rest.
        self.meter
            .step(self.get(parent, |p| p.count).saturating_add(1));
        let child = match new_node {
            NodeOrText::AppendText(text) => {
                if self.merge_text(self.get(*sibling, |n| n.prev), &text) {
                    return;
                }
                self.text_node(&text)
            }
            NodeOrText::AppendNode(node) => {
                self.detach(node);
                node
            }
        };
        self.link(parent, child, *sibling);
    }
    fn add_attrs_if_missing(&self, target: &usize, attrs: Vec<Attribute>) {
        let mut nodes = self.nodes.borrow_mut();
        if let Some(n) = nodes.get_mut(*target) {
            self.meter.step(n.attrs.saturating_add(attrs.len()));
            for a in &attrs {
                self.meter.step(escape_cost(&a.value, true));
            }
            n.attrs = n.attrs.saturating_add(attrs.len());
        }
    }
    fn remove_from_parent(&self, target: &usize) {
        self.detach(*target);
    }
    fn reparent_children(&self, node: &usize, new_parent: &usize) {
        let mut child = self.get(*node, |n| n.first);
        let mut moved = 0usize;
        while child != NONE {
            let next = self.get(child, |n| n.next);
            self.unlink(child);
            self.link(*new_parent, child, NONE);
            moved += 1;
            child = next;
        }
        self.meter.step(moved.saturating_add(1));
    }
    fn is_mathml_annotation_xml_integration_point(&self, handle: &usize) -> bool {
        self.nodes
            .borrow()
            .get(*handle)
            .is_some_and(|n| n.integration_point)
    }
}
