//! Paging for providers that list by walking keys in order themselves.
//!
//! Cloud stores page natively. The memory and filesystem providers walk their
//! keys in lexicographic order and feed them to a [`ListPageBuilder`], which
//! applies the prefix, the delimiter grouping, the page token and the page size
//! the same way for both, so their listings cannot drift apart.

use super::{ListOptions, ListPage, ObjectMeta};

/// The page size when [`ListOptions::page_size`] is `None`, and the largest one
/// honoured (the S3 and GCS maximum).
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// What a provider should do with a key it offered to a [`ListPageBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Not part of this page (outside the prefix, at or before the page token,
    /// or folded into a common prefix). Go on with the next key.
    Skip,
    /// The key belongs in the page as an object: read its metadata and call
    /// [`ListPageBuilder::push_object`] (or skip it if it vanished meanwhile).
    Object,
    /// The page is full and more entries follow: stop and call
    /// [`ListPageBuilder::finish`].
    Full,
}

/// Builds one [`ListPage`] from keys offered in lexicographic (byte) order.
///
/// The page token is the last key or common prefix returned, so the next page
/// starts strictly after it; a common-prefix token skips its whole group.
#[derive(Debug)]
pub struct ListPageBuilder<'a> {
    prefix: &'a str,
    delimiter: Option<&'a str>,
    token: Option<&'a str>,
    page_size: usize,
    page: ListPage,
    /// The last entry (key or common prefix) put in the page.
    last: Option<String>,
    more: bool,
}

impl<'a> ListPageBuilder<'a> {
    /// A builder for one page of `opts`. An empty delimiter means none; the page
    /// size is clamped to `1..=`[`DEFAULT_PAGE_SIZE`].
    pub fn new(opts: &'a ListOptions) -> Self {
        Self {
            prefix: opts.prefix.as_deref().unwrap_or(""),
            delimiter: opts.delimiter.as_deref().filter(|d| !d.is_empty()),
            token: opts.page_token.as_deref(),
            page_size: opts
                .page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, DEFAULT_PAGE_SIZE),
            page: ListPage::default(),
            last: None,
            more: false,
        }
    }

    /// The listing's prefix (empty for none).
    pub fn prefix(&self) -> &'a str {
        self.prefix
    }

    /// The delimiter, if grouping.
    pub fn delimiter(&self) -> Option<&'a str> {
        self.delimiter
    }

    /// The page token: every entry returned is strictly greater.
    pub fn token(&self) -> Option<&'a str> {
        self.token
    }

    /// The common prefix `key` is grouped into, if any.
    pub fn group_of(&self, key: &str) -> Option<String> {
        let delimiter = self.delimiter?;
        let rest = key.strip_prefix(self.prefix)?;
        let end = rest.find(delimiter)? + delimiter.len();
        Some(format!("{}{}", self.prefix, &rest[..end]))
    }

    /// Offers the next key in order. Keys must be offered in increasing order.
    pub fn offer_key(&mut self, key: &str) -> Offer {
        if self.more || !key.starts_with(self.prefix) {
            return if self.more { Offer::Full } else { Offer::Skip };
        }
        if let Some(group) = self.group_of(key) {
            return self.offer_common_prefix(&group);
        }
        if self.token.is_some_and(|t| key <= t) {
            return Offer::Skip;
        }
        if self.is_full() {
            self.more = true;
            return Offer::Full;
        }
        Offer::Object
    }

    /// Adds an object that [`offer_key`](Self::offer_key) asked for.
    pub fn push_object(&mut self, meta: ObjectMeta) {
        self.last = Some(meta.key.clone());
        self.page.objects.push(meta);
    }

    /// Offers a whole common prefix at once (a provider that knows a group is
    /// non-empty without walking it, e.g. a directory). Returns
    /// [`Offer::Skip`] when it was added or is not due, [`Offer::Full`] to stop.
    pub fn offer_common_prefix(&mut self, group: &str) -> Offer {
        if self.more {
            return Offer::Full;
        }
        if !self.common_prefix_due(group) {
            return Offer::Skip;
        }
        if self.is_full() {
            self.more = true;
            return Offer::Full;
        }
        self.last = Some(group.to_owned());
        self.page.common_prefixes.push(group.to_owned());
        Offer::Skip
    }

    /// Whether [`offer_common_prefix`](Self::offer_common_prefix) would add
    /// `group` (it is after the token and not already in the page), for a
    /// provider that must do work to learn whether a group is empty.
    pub fn common_prefix_due(&self, group: &str) -> bool {
        !(self.token.is_some_and(|t| group <= t) || self.last.as_deref() == Some(group))
    }

    /// Whether the page already holds `page_size` entries.
    pub fn is_full(&self) -> bool {
        self.page.objects.len() + self.page.common_prefixes.len() >= self.page_size
    }

    /// The page, with a token when an entry was refused because it was full.
    pub fn finish(mut self) -> ListPage {
        if self.more {
            self.page.next_page_token = self.last.take();
        }
        self.page
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn meta(key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.to_owned(),
            size: 0,
            etag: String::new(),
            content_type: None,
            last_modified: SystemTime::UNIX_EPOCH,
            metadata: Default::default(),
        }
    }

    /// Lists `keys` (sorted) page by page; returns the pages as entry lists.
    fn pages(keys: &[&str], mut opts: ListOptions) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        loop {
            let mut builder = ListPageBuilder::new(&opts);
            for key in keys {
                match builder.offer_key(key) {
                    Offer::Skip => {}
                    Offer::Object => builder.push_object(meta(key)),
                    Offer::Full => break,
                }
            }
            let page = builder.finish();
            let mut entries: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
            entries.extend(page.common_prefixes.iter().cloned());
            entries.sort();
            out.push(entries);
            match page.next_page_token {
                Some(token) => opts.page_token = Some(token),
                None => return out,
            }
            assert!(out.len() < 100, "listing does not end");
        }
    }

    const KEYS: &[&str] = &["a", "a/b", "a/c/d", "a/c/e", "a0", "b/x", "b/y", "c"];

    #[test]
    fn pages_hold_page_size_entries_and_end_without_an_empty_page() {
        let opts = ListOptions {
            page_size: Some(3),
            ..Default::default()
        };
        let got = pages(KEYS, opts);
        assert_eq!(
            got,
            vec![
                vec!["a", "a/b", "a/c/d"],
                vec!["a/c/e", "a0", "b/x"],
                vec!["b/y", "c"],
            ]
        );
    }

    #[test]
    fn delimiter_groups_are_not_repeated_across_pages() {
        let opts = ListOptions {
            delimiter: Some("/".into()),
            page_size: Some(1),
            ..Default::default()
        };
        let got = pages(KEYS, opts);
        assert_eq!(
            got,
            vec![vec!["a"], vec!["a/"], vec!["a0"], vec!["b/"], vec!["c"]]
        );
    }

    #[test]
    fn prefix_and_delimiter_group_below_the_prefix() {
        let opts = ListOptions {
            prefix: Some("a/".into()),
            delimiter: Some("/".into()),
            ..Default::default()
        };
        assert_eq!(pages(KEYS, opts), vec![vec!["a/b", "a/c/"]]);
    }

    #[test]
    fn exact_page_size_has_no_token() {
        let opts = ListOptions {
            page_size: Some(KEYS.len()),
            ..Default::default()
        };
        assert_eq!(pages(KEYS, opts).len(), 1);
    }

    #[test]
    fn empty_delimiter_means_no_grouping_and_zero_page_size_means_one() {
        let opts = ListOptions {
            delimiter: Some(String::new()),
            page_size: Some(0),
            ..Default::default()
        };
        let got = pages(KEYS, opts);
        assert_eq!(got.len(), KEYS.len());
        assert!(got.iter().all(|p| p.len() == 1));
    }
}
