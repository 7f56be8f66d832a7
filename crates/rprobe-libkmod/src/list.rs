//! kmod's lists: circular and doubly linked, `{next, prev, data}` in C's layout, the head
//! pointer being the first node and an empty list NULL (systemd reads a NULL list as "not
//! found"). Consumers walk them with kmod_list_next/prev/last (kmod_list_foreach expands
//! to those calls) and read entries through accessor functions; dracut-install also relies
//! on entry layouts, which info.rs keeps.

use std::ffi::c_void;
use std::ptr::null_mut;

use crate::ffi::guard;

/// One list node, as C's `struct kmod_list` (`struct list_node { next, prev }; void *data`).
#[repr(C)]
pub struct kmod_list {
    next: *mut kmod_list,
    prev: *mut kmod_list,
    /// The entry: a module, or an info, version, symbol or section record.
    pub data: *mut c_void,
}

/// Appends `data` to the list `head` (NULL: empty); the list's head.
///
/// # Safety
/// `head` is NULL or a well-formed list of ours.
pub unsafe fn append(head: *mut kmod_list, data: *mut c_void) -> *mut kmod_list {
    let node = Box::into_raw(Box::new(kmod_list {
        next: null_mut(),
        prev: null_mut(),
        data,
    }));
    // SAFETY: `node` is ours; `head`, when not NULL, is a well-formed list of ours.
    unsafe {
        if head.is_null() {
            (*node).next = node;
            (*node).prev = node;
            return node;
        }
        let last = (*head).prev;
        (*node).prev = last;
        (*node).next = head;
        (*last).next = node;
        (*head).prev = node;
    }
    head
}

/// A list of `items`, in order (NULL when empty).
pub fn from_iter(items: impl IntoIterator<Item = *mut c_void>) -> *mut kmod_list {
    // SAFETY: each step appends to the list the previous one returned.
    items
        .into_iter()
        .fold(null_mut(), |h, d| unsafe { append(h, d) })
}

/// The entries of a list, in order.
///
/// # Safety
/// `head` is NULL or a well-formed list that outlives the iteration and is not changed
/// during it.
pub unsafe fn entries(head: *const kmod_list) -> Vec<*mut c_void> {
    let mut out = Vec::new();
    let mut n = head;
    while !n.is_null() {
        // SAFETY: a node of a well-formed list.
        unsafe {
            out.push((*n).data);
            n = (*n).next;
        }
        if n == head {
            break;
        }
    }
    out
}

/// Frees the nodes of a list, handing each entry to `free` first.
///
/// # Safety
/// `head` is NULL or a well-formed list of ours, not used afterwards.
pub unsafe fn release(head: *mut kmod_list, mut free: impl FnMut(*mut c_void)) {
    if head.is_null() {
        return;
    }
    let mut n = head;
    loop {
        // SAFETY: each node was made by `append` (Box) and is freed once.
        let node = unsafe { Box::from_raw(n) };
        free(node.data);
        n = node.next;
        if n == head {
            break;
        }
    }
}

/// kmod_list_next: the node after `curr`, NULL at the end (or for NULL arguments).
///
/// # Safety
/// `list` and `curr` are NULL or nodes of the same well-formed list.
#[no_mangle]
pub unsafe extern "C" fn kmod_list_next(
    list: *const kmod_list,
    curr: *const kmod_list,
) -> *mut kmod_list {
    guard(null_mut(), || {
        if list.is_null() || curr.is_null() {
            return null_mut();
        }
        // SAFETY: a node of a well-formed list.
        let next = unsafe { (*curr).next };
        if std::ptr::eq(next, list) {
            null_mut()
        } else {
            next
        }
    })
}

/// kmod_list_prev: the node before `curr`, NULL at the head (or for NULL arguments).
///
/// # Safety
/// As [`kmod_list_next`].
#[no_mangle]
pub unsafe extern "C" fn kmod_list_prev(
    list: *const kmod_list,
    curr: *const kmod_list,
) -> *mut kmod_list {
    guard(null_mut(), || {
        if list.is_null() || curr.is_null() || list == curr {
            return null_mut();
        }
        // SAFETY: a node of a well-formed list.
        unsafe { (*curr).prev }
    })
}

/// kmod_list_last: the list's last node (NULL for an empty list).
///
/// # Safety
/// `list` is NULL or the head of a well-formed list.
#[no_mangle]
pub unsafe extern "C" fn kmod_list_last(list: *const kmod_list) -> *mut kmod_list {
    guard(null_mut(), || {
        if list.is_null() {
            return null_mut();
        }
        // SAFETY: the head of a well-formed list.
        unsafe { (*list).prev }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circular_with_null_ends_as_kmod() {
        let l = from_iter((1..=3usize).map(|i| i as *mut c_void));
        // SAFETY: a list made above, freed at the end.
        unsafe {
            let e: Vec<usize> = entries(l).into_iter().map(|p| p as usize).collect();
            assert_eq!(e, [1, 2, 3]);
            let last = kmod_list_last(l);
            assert_eq!((*last).data as usize, 3);
            assert!(kmod_list_next(l, last).is_null());
            assert!(kmod_list_prev(l, l).is_null());
            assert_eq!(kmod_list_prev(l, last), kmod_list_next(l, l));
            assert!(kmod_list_last(null_mut()).is_null());
            let mut freed = Vec::new();
            release(l, |d| freed.push(d as usize));
            assert_eq!(freed, [1, 2, 3]);
        }
        assert!(from_iter(std::iter::empty()).is_null());
    }
}
