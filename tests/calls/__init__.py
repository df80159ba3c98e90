"""The client contract on unary calls and their results: every method, retries, deadlines, typed errors, arguments, paging, to_dict."""
