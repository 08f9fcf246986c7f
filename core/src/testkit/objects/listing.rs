//! Listing: pagination, ordering and common prefixes.

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::objects::{ListOptions, ObjectMeta, PutOptions};

use super::ObjectsHarness;
use super::support::*;

/// 1,105 keys: pages hold at most `page_size` entries, come in order without
/// repeats across pages, and group common prefixes correctly.
pub async fn list_pagination(h: &impl ObjectsHarness) {
    bounded("list_pagination", async {
        let bucket = h.bucket().await;
        let mut keys: Vec<String> = (0..1000).map(|i| format!("flat/k{i:04}")).collect();
        keys.extend((0..100).map(|i| format!("tree/d{}/k{}", i / 10, i % 10)));
        keys.extend((0..5).map(|i| format!("top{i}")));
        keys.sort();
        let uploads = stream::iter(keys.clone()).map(|key| {
            let bucket = bucket.clone();
            async move {
                bucket
                    .upload(&key, key.clone(), PutOptions::default())
                    .await
            }
        });
        let stored: Vec<ObjectMeta> = ok(
            uploads.buffer_unordered(32).try_collect().await,
            "seed 1,105 keys",
        );
        assert_eq!(stored.len(), 1105);

        let pages = all_pages(&bucket, ListOptions::default()).await;
        let (all, _) = entries(&pages, 1000, "default page size");
        assert_eq!(all, keys, "default page size: wrong keys");
        assert!(
            pages.len() >= 2,
            "1,105 keys fit in one page of at most 1000"
        );

        let pages = all_pages(&bucket, list("", None, Some(100))).await;
        let (all, _) = entries(&pages, 100, "page_size 100");
        assert_eq!(all, keys, "page_size 100: wrong keys");
        assert!(
            pages.len() >= 12,
            "page_size 100 gave {} pages for 1,105 keys",
            pages.len()
        );
        let sizes: Vec<u64> = pages
            .iter()
            .flat_map(|p| p.objects.iter().map(|o| o.size))
            .collect();
        let expected: Vec<u64> = keys.iter().map(|k| k.len() as u64).collect();
        assert_eq!(sizes, expected, "listed sizes");

        let top = ["flat/", "top0", "top1", "top2", "top3", "top4", "tree/"];
        let pages = all_pages(&bucket, list("", Some("/"), Some(2))).await;
        let (all, prefixes) = entries(&pages, 2, "delimiter, page_size 2");
        assert_eq!(all, top, "delimiter at the top");
        assert_eq!(prefixes, 2, "common prefixes repeated or lost across pages");
        let pages = all_pages(&bucket, list("", Some("/"), None)).await;
        assert_eq!(entries(&pages, 1000, "delimiter").0, top);

        let dirs: Vec<String> = (0..10).map(|d| format!("tree/d{d}/")).collect();
        let pages = all_pages(&bucket, list("tree/", Some("/"), Some(3))).await;
        let (all, prefixes) = entries(&pages, 3, "tree/ with delimiter");
        assert_eq!((all, prefixes), (dirs.clone(), 10));
        let pages = all_pages(&bucket, list("tree/d", Some("/"), None)).await;
        assert_eq!(
            entries(&pages, 1000, "partial prefix with delimiter").0,
            dirs
        );
        let pages = all_pages(&bucket, list("tree/d", None, Some(30))).await;
        assert_eq!(entries(&pages, 30, "partial prefix").0.len(), 100);

        let pages = all_pages(&bucket, list("flat/", Some("/"), Some(100))).await;
        let (all, prefixes) = entries(&pages, 100, "flat/ with delimiter");
        assert_eq!((all.len(), prefixes), (1000, 0));
        assert!(pages.len() >= 10);

        let streamed = list_keys(&bucket, list("", None, Some(100))).await;
        assert_eq!(streamed, keys, "the list stream");
        assert_eq!(list_keys(&bucket, list("", Some("/"), Some(3))).await, top);
        assert!(
            list_keys(&bucket, list("nothing/", None, None))
                .await
                .is_empty()
        );
    })
    .await;
}

/// A delimiter other than `/` groups keys (across directories too), once per
/// group even one entry per page.
pub async fn list_with_another_delimiter(h: &impl ObjectsHarness) {
    bounded("list_with_another_delimiter", async {
        let bucket = h.bucket().await;
        let keys = [
            "d-1/a", "d-1/b", "d-2", "d-3-x", "e", "x-1-a", "x-1-b", "x-2", "y",
        ];
        for key in keys {
            upload(&bucket, key, key, PutOptions::default()).await;
        }
        for page_size in [None, Some(1)] {
            let pages = all_pages(&bucket, list("", Some("-"), page_size)).await;
            let (all, prefixes) = entries(&pages, page_size.unwrap_or(1000), "delimiter `-`");
            assert_eq!(
                (all, prefixes),
                (vec!["d-".into(), "e".into(), "x-".into(), "y".into()], 2)
            );
            let pages = all_pages(&bucket, list("x-", Some("-"), page_size)).await;
            let (all, prefixes) = entries(&pages, page_size.unwrap_or(1000), "prefix `x-`");
            assert_eq!((all, prefixes), (vec!["x-1-".into(), "x-2".into()], 1));
            let pages = all_pages(&bucket, list("d-", Some("-"), page_size)).await;
            let (all, _) = entries(&pages, page_size.unwrap_or(1000), "prefix `d-`");
            assert_eq!(all, ["d-1/a", "d-1/b", "d-2", "d-3-"]);
        }
    })
    .await;
}
