//! conn (filled in next).
