//! Many short strings kept in one buffer, each known by its [`Span`]:
//! header fields and routing attributes are built per request, and one
//! allocation for all of them is cheaper than two per field.

/// Where one string is in an [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span(u32, u32);

/// The buffer the strings live in. Strings are only ever appended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arena(String);

impl Arena {
    /// An empty arena with room for `bytes` bytes.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Arena(String::with_capacity(bytes))
    }

    /// Appends `text`; where it now is.
    pub(crate) fn push(&mut self, text: &str) -> Span {
        let start = self.0.len();
        self.0.push_str(text);
        // Frames are limited far below 4 GiB by the codecs; saturate rather than wrap.
        let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span(offset(start), offset(self.0.len()))
    }

    /// The string at `span` (empty for a span of another arena).
    pub(crate) fn get(&self, Span(start, end): Span) -> &str {
        self.0.get(start as usize..end as usize).unwrap_or_default()
    }
}
