//! Where a JSON path stands in a document's text: line and column, for error messages.
