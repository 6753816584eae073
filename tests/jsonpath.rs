//! `KV_FIND`, `KV_UPDATE` and `KV_ARR_APPEND` over a real WebSocket, with
//! the exact expected reply text: every reply form, the JSONPath features
//! (filters, nested names, indexes, slices, wildcards, descendants), edits
//! that keep the rest of a value byte for byte, and every error row.

mod common;

/// Runs `(request, expected reply)` rows in order on one connection.
fn table(client: &mut common::Client, rows: &[(&str, &str)]) {
    for (request, expected) in rows {
        assert_eq!(client.call(request), *expected, "request: {request}");
    }
}

/// A server holding the keys the tables search.
fn loaded() -> (common::TestServer, common::Client) {
    let server = common::start();
    let mut client = server.client();
    let set = concat!(
        r#"{"KV_SET":{"keys":{"#,
        r#""user:1":{"name":"Ann","n":1,"tags":["a","x"],"addr":{"city":"Leeds","zip":"LS1"}},"#,
        r#""user:2":{"name":"Bob","n":5,"tags":["b","a"],"addr":{"city":"York"}},"#,
        r#""user:3":{"name":"Cy","n":3,"tags":[],"big":123456789012345678901234567890,"e":1e400,"f":1.50},"#,
        r#""list":[1,2,3,4,5],"#,
        r#""scalar":"just a string","#,
        r#""team":[{"n":1,"tags":["a","b"]},{"n":2,"tags":["b"]},{"n":3,"tags":["a"]}]"#,
        r#"}}}"#
    );
    assert_eq!(client.call(set), r#"{"KV_SET_RSP":{"st":1}}"#);
    (server, client)
}

#[test]
fn find_in_each_reply_form() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            (
                r#"{"KV_FIND":{"path":"$.name","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"keys":["user:1","user:2","user:3"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$.addr.zip","rsp":"kv"}}"#,
                r#"{"KV_FIND_RSP":{"keys":{"user:1":{"name":"Ann","n":1,"tags":["a","x"],"addr":{"city":"Leeds","zip":"LS1"}}},"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$.tags[*]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$['tags'][0]","$['tags'][1]","$['tags'][0]","$['tags'][1]"],"st":1}}"#,
            ),
            // No match: an empty list or object, status 1.
            (r#"{"KV_FIND":{"path":"$.nope","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"keys":[],"st":1}}"#),
            (r#"{"KV_FIND":{"path":"$.nope","rsp":"kv"}}"#, r#"{"KV_FIND_RSP":{"keys":{},"st":1}}"#),
            (r#"{"KV_FIND":{"path":"$.nope","rsp":"paths"}}"#, r#"{"KV_FIND_RSP":{"paths":[],"st":1}}"#),
            // Values come back whole and as stored: numbers as the client wrote them.
            (
                r#"{"KV_FIND":{"path":"$.e","rsp":"kv"}}"#,
                r#"{"KV_FIND_RSP":{"keys":{"user:3":{"name":"Cy","n":3,"tags":[],"big":123456789012345678901234567890,"e":1e400,"f":1.50}},"st":1}}"#,
            ),
            (r#"{"KV_FIND":{"path":"$[?@ > 1e300]","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"keys":["user:3"],"st":1}}"#),
        ],
    );
}

#[test]
fn find_with_jsonpath_features() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            // Filters.
            (
                r#"{"KV_FIND":{"path":"$[?@.n > 1]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$[1]","$[2]"],"st":1}}"#,
            ),
            (r#"{"KV_FIND":{"path":"$[?@.n > 1]","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"keys":["team"],"st":1}}"#),
            (
                r#"{"KV_FIND":{"path":"$[?@.tags[0] == 'a']","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$[0]","$[2]"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$.tags[?@ == 'a']","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"keys":["user:1","user:2"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$[?@.n >= 2 && length(@.tags) == 1]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$[1]","$[2]"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$.tags[?match(@, '[ab]')]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$['tags'][0]","$['tags'][0]","$['tags'][1]"],"st":1}}"#,
            ),
            // Nested names, in dot and bracket notation.
            (
                r#"{"KV_FIND":{"path":"$.addr['city']","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"keys":["user:1","user:2"],"st":1}}"#,
            ),
            // Indexes (negative counts from the end) and slices.
            (r#"{"KV_FIND":{"path":"$[1]","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"keys":["list","team"],"st":1}}"#),
            (r#"{"KV_FIND":{"path":"$[-1]","rsp":"paths"}}"#, r#"{"KV_FIND_RSP":{"paths":["$[4]","$[2]"],"st":1}}"#),
            (
                r#"{"KV_FIND":{"keys":["list"],"path":"$[1:4:2]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$[1]","$[3]"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"keys":["list"],"path":"$[::-2]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$[4]","$[2]","$[0]"],"st":1}}"#,
            ),
            // Wildcards: an object's members come in name order.
            (
                r#"{"KV_FIND":{"keys":["user:2"],"path":"$.*","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$['addr']","$['n']","$['name']","$['tags']"],"st":1}}"#,
            ),
            (r#"{"KV_FIND":{"path":"$[*].tags[1]","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"keys":["team"],"st":1}}"#),
            // Descendant segments.
            (
                r#"{"KV_FIND":{"path":"$..city","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$['addr']['city']","$['addr']['city']"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"keys":["team"],"path":"$..[?@ == 'b']","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$[0]['tags'][1]","$[1]['tags'][0]"],"st":1}}"#,
            ),
            // The root matches every value; a selector repeated selects a node once.
            (
                r#"{"KV_FIND":{"keys":["scalar"],"path":"$","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"keys":["list"],"path":"$[0,0,-5]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$[0]"],"st":1}}"#,
            ),
            // Costly paths run off the loop and answer the same way.
            (
                r#"{"KV_FIND":{"path":"$..*..city","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"keys":["user:1","user:2"],"st":1}}"#,
            ),
        ],
    );
}

#[test]
fn find_among_given_keys() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            // Request order, first occurrences; non-strings and missing keys skipped.
            (
                r#"{"KV_FIND":{"keys":["user:2",7,null,"nope","user:1","user:2",{"a":1}],"path":"$.name","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"keys":["user:2","user:1"],"st":1}}"#,
            ),
            (r#"{"KV_FIND":{"keys":[7,"nope"],"path":"$","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"keys":[],"st":1}}"#),
            // An empty `keys` searches every key, as no `keys` does.
            (
                r#"{"KV_FIND":{"keys":[],"path":"$.addr","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"keys":["user:1","user:2"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"keys":["list","scalar"],"path":"$","rsp":"kv"}}"#,
                r#"{"KV_FIND_RSP":{"keys":{"list":[1,2,3,4,5],"scalar":"just a string"},"st":1}}"#,
            ),
        ],
    );
}

#[test]
fn find_errors() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            (
                r#"{"KV_FIND":{"path":"$","rsp":"nope"}}"#,
                r#"{"KV_FIND_RSP":{"m":"'rsp' invalid value","st":13,"tkn":null}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"m":"'path' is empty","st":42,"tkn":null}}"#,
            ),
            // `rsp` is checked before the empty path.
            (
                r#"{"KV_FIND":{"path":"","rsp":"KEYS"}}"#,
                r#"{"KV_FIND_RSP":{"m":"'rsp' invalid value","st":13,"tkn":null}}"#,
            ),
            (r#"{"KV_FIND":{"rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#),
            (r#"{"KV_FIND":{"path":"$"}}"#, r#"{"KV_FIND_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#),
            (
                r#"{"KV_FIND":{"path":1,"rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$","rsp":1}}"#,
                r#"{"KV_FIND_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#,
            ),
            // `keys` comes first in name order: its type is checked before the missing `path`.
            (r#"{"KV_FIND":{"keys":"a"}}"#, r#"{"KV_FIND_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#),
            // Malformed JSONPath: status 4, without `m` or `tkn`.
            (r#"{"KV_FIND":{"path":"$[","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"st":4}}"#),
            (r#"{"KV_FIND":{"path":"name","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"st":4}}"#),
            (r#"{"KV_FIND":{"path":"$[?@.n > ]","rsp":"paths"}}"#, r#"{"KV_FIND_RSP":{"st":4}}"#),
            (r#"{"KV_FIND":{"path":"$.a[?@.b == $..c]","rsp":"kv"}}"#, r#"{"KV_FIND_RSP":{"st":4}}"#),
            (r#"{"KV_FIND":{"path":"$[?nope(@)]","rsp":"kv"}}"#, r#"{"KV_FIND_RSP":{"st":4}}"#),
            (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":6,"st":1}}"#),
        ],
    );
}

#[test]
fn updates() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            // One node; the rest of the value keeps its member order.
            (
                r#"{"KV_UPDATE":{"key":"user:1","path":"$.addr.city","value":"Hull"}}"#,
                r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["user:1"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"user:1":{"name":"Ann","n":1,"tags":["a","x"],"addr":{"city":"Hull","zip":"LS1"}}},"st":1}}"#,
            ),
            // Many nodes.
            (
                r#"{"KV_UPDATE":{"key":"team","path":"$[?@.n > 1].n","value":0}}"#,
                r#"{"KV_UPDATE_RSP":{"cnt":2,"st":1}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["team"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"team":[{"n":1,"tags":["a","b"]},{"n":0,"tags":["b"]},{"n":0,"tags":["a"]}]},"st":1}}"#,
            ),
            (
                r#"{"KV_UPDATE":{"key":"list","path":"$[1:]","value":[ 9, {"x" : null} ]}}"#,
                r#"{"KV_UPDATE_RSP":{"cnt":4,"st":1}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["list"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"list":[1,[ 9, {"x" : null} ],[ 9, {"x" : null} ],[ 9, {"x" : null} ],[ 9, {"x" : null} ]]},"st":1}}"#,
            ),
            // No node: count 0, status 1, nothing changes; a path never adds members.
            (r#"{"KV_UPDATE":{"key":"user:2","path":"$.nope","value":1}}"#, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":1}}"#),
            (
                r#"{"KV_UPDATE":{"key":"user:2","path":"$..city","value":null}}"#,
                r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["user:2"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"user:2":{"name":"Bob","n":5,"tags":["b","a"],"addr":{"city":null}}},"st":1}}"#,
            ),
            // Nested selections count each node; the outer one wins.
            (r#"{"KV_UPDATE":{"key":"user:2","path":"$..*","value":0}}"#, r#"{"KV_UPDATE_RSP":{"cnt":7,"st":1}}"#),
            (
                r#"{"KV_GET":{"keys":["user:2"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"user:2":{"name":0,"n":0,"tags":0,"addr":0}},"st":1}}"#,
            ),
            // The root: the whole value.
            (
                r#"{"KV_UPDATE":{"key":"scalar","path":"$","value":{"now":"an object"}}}"#,
                r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#,
            ),
            (r#"{"KV_GET":{"keys":["scalar"]}}"#, r#"{"KV_GET_RSP":{"keys":{"scalar":{"now":"an object"}},"st":1}}"#),
            // Numbers elsewhere in the value stay exactly as written.
            (r#"{"KV_UPDATE":{"key":"user:3","path":"$.n","value":4}}"#, r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#),
            (
                r#"{"KV_GET":{"keys":["user:3"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"user:3":{"name":"Cy","n":4,"tags":[],"big":123456789012345678901234567890,"e":1e400,"f":1.50}},"st":1}}"#,
            ),
            (
                r#"{"KV_UPDATE":{"key":"user:3","path":"$[?@ > 1e20]","value":"big"}}"#,
                r#"{"KV_UPDATE_RSP":{"cnt":2,"st":1}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["user:3"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"user:3":{"name":"Cy","n":4,"tags":[],"big":"big","e":"big","f":1.50}},"st":1}}"#,
            ),
        ],
    );
}

#[test]
fn update_errors() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            (r#"{"KV_UPDATE":{"key":"nope","path":"$","value":1}}"#, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":22}}"#),
            // The key is looked up before the path is parsed.
            (r#"{"KV_UPDATE":{"key":"nope","path":"$[","value":1}}"#, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":22}}"#),
            (r#"{"KV_UPDATE":{"key":"list","path":"$[","value":1}}"#, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":4}}"#),
            (r#"{"KV_UPDATE":{"key":"list","path":"","value":1}}"#, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":4}}"#),
            (r#"{"KV_UPDATE":{"key":"list","path":"[0]","value":1}}"#, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":4}}"#),
            (
                r#"{"KV_UPDATE":{"path":"$","value":1}}"#,
                r#"{"KV_UPDATE_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#,
            ),
            (
                r#"{"KV_UPDATE":{"key":"list","value":1}}"#,
                r#"{"KV_UPDATE_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#,
            ),
            (
                r#"{"KV_UPDATE":{"key":"list","path":"$"}}"#,
                r#"{"KV_UPDATE_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#,
            ),
            (
                r#"{"KV_UPDATE":{"key":1,"path":"$"}}"#,
                r#"{"KV_UPDATE_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#,
            ),
            (
                r#"{"KV_UPDATE":{"key":"list","path":["$"],"value":1}}"#,
                r#"{"KV_UPDATE_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#,
            ),
            (r#"{"KV_GET":{"keys":["list"]}}"#, r#"{"KV_GET_RSP":{"keys":{"list":[1,2,3,4,5]},"st":1}}"#),
        ],
    );
}

#[test]
fn appends() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            (r#"{"KV_ARR_APPEND":{"items":[6,[7],{"b":2,"a":1}],"key":"list"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#),
            (
                r#"{"KV_GET":{"keys":["list"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"list":[1,2,3,4,5,6,[7],{"b":2,"a":1}]},"st":1}}"#,
            ),
            (
                r#"{"KV_ARR_APPEND":{"items":["y","z"],"key":"user:1","name":"tags"}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#,
            ),
            (
                r#"{"KV_ARR_APPEND":{"items":[1e400],"key":"user:3","name":"tags"}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#,
            ),
            (r#"{"KV_ARR_APPEND":{"items":[],"key":"user:2","name":"tags"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#),
            (
                r#"{"KV_GET":{"keys":["user:1","user:3","user:2"]}}"#,
                concat!(
                    r#"{"KV_GET_RSP":{"keys":{"user:1":{"name":"Ann","n":1,"tags":["a","x","y","z"],"addr":{"city":"Leeds","zip":"LS1"}},"#,
                    r#""user:3":{"name":"Cy","n":3,"tags":[1e400],"big":123456789012345678901234567890,"e":1e400,"f":1.50},"#,
                    r#""user:2":{"name":"Bob","n":5,"tags":["b","a"],"addr":{"city":"York"}}},"st":1}}"#
                ),
            ),
        ],
    );
}

#[test]
fn append_errors() {
    let (_server, mut client) = loaded();
    table(
        &mut client,
        &[
            (r#"{"KV_ARR_APPEND":{"items":[1],"key":"nope"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":22}}"#),
            // The value is not an array.
            (r#"{"KV_ARR_APPEND":{"items":[1],"key":"user:1"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":1000}}"#),
            // The named member is not an array: NemesisDB answered 1 and changed nothing.
            (r#"{"KV_ARR_APPEND":{"items":[1],"key":"user:1","name":"name"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":1000}}"#),
            // No such member, or the value is not an object.
            (r#"{"KV_ARR_APPEND":{"items":[1],"key":"user:1","name":"zz"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":1000}}"#),
            (r#"{"KV_ARR_APPEND":{"items":[1],"key":"list","name":"tags"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":1000}}"#),
            (
                r#"{"KV_ARR_APPEND":{"key":"list"}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#,
            ),
            (
                r#"{"KV_ARR_APPEND":{"items":[1]}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#,
            ),
            (
                r#"{"KV_ARR_APPEND":{"items":1}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#,
            ),
            (
                r#"{"KV_ARR_APPEND":{"items":[1],"key":["list"]}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#,
            ),
            (
                r#"{"KV_ARR_APPEND":{"items":[1],"key":"list","name":1}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["user:1","list"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"user:1":{"name":"Ann","n":1,"tags":["a","x"],"addr":{"city":"Leeds","zip":"LS1"}},"list":[1,2,3,4,5]},"st":1}}"#,
            ),
        ],
    );
}

/// A `KV_FIND` over more keys than are searched on the loop goes to the
/// save thread, and its reply keeps its place among the connection's replies.
#[test]
fn a_large_find_answers_in_order() {
    let server = common::start();
    let mut client = server.client();
    let keys: Vec<String> = (0..5000).map(|i| format!(r#""k{i:04}":{{"n":{i},"tags":["a","b"]}}"#)).collect();
    assert_eq!(
        client.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(","))),
        r#"{"KV_SET_RSP":{"st":1}}"#
    );
    client.send(r#"{"KV_FIND":{"path":"$[?@ > 4997]","rsp":"keys"}}"#);
    client.send(r#"{"KV_COUNT":{}}"#);
    client.send(r#"{"KV_FIND":{"path":"$.tags[?@ == 'c']","rsp":"paths"}}"#);
    client.send(r#"{"KV_RMV":{"keys":["k4999"]}}"#);
    client.send(r#"{"KV_FIND":{"path":"$[?@ > 4997]","rsp":"kv"}}"#);
    assert_eq!(client.recv(), r#"{"KV_FIND_RSP":{"keys":["k4998","k4999"],"st":1}}"#);
    assert_eq!(client.recv(), r#"{"KV_COUNT_RSP":{"cnt":5000,"st":1}}"#);
    assert_eq!(client.recv(), r#"{"KV_FIND_RSP":{"paths":[],"st":1}}"#);
    assert_eq!(client.recv(), r#"{"KV_RMV_RSP":{"st":1}}"#);
    assert_eq!(client.recv(), r#"{"KV_FIND_RSP":{"keys":{"k4998":{"n":4998,"tags":["a","b"]}},"st":1}}"#);
}

/// Names in normalized paths are escaped as RFC 9535 prescribes: `'` and
/// `\` with a backslash, control characters as `\b`, `\t`, … or `\u00XX`.
#[test]
fn normalized_paths_escape_names() {
    let server = common::start();
    let mut client = server.client();
    table(
        &mut client,
        &[
            (
                r#"{"KV_SET":{"keys":{"k":{"it's":1,"a\\b":2,"c\u0010d":3,"e\tf":4,"g\"h":5,"é":6}}}}"#,
                r#"{"KV_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$.*","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$['a\\\\b']","$['c\\u0010d']","$['e\\tf']","$['g\"h']","$['it\\'s']","$['é']"],"st":1}}"#,
            ),
        ],
    );
}

/// The examples of `docs/protocol.md`, as written there.
#[test]
fn documented_examples() {
    let server = common::start();
    let mut client = server.client();
    table(
        &mut client,
        &[
            (
                r#"{"KV_SET":{"keys":{"u1":{"n":1,"tags":["a","x"]},"u2":{"n":5,"tags":["b","a"]},"team":[{"n":1},{"n":3}]}}}"#,
                r#"{"KV_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$.tags[?@ == 'a']","rsp":"keys"}}"#,
                r#"{"KV_FIND_RSP":{"keys":["u1","u2"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"path":"$.tags[0]","rsp":"paths"}}"#,
                r#"{"KV_FIND_RSP":{"paths":["$['tags'][0]","$['tags'][0]"],"st":1}}"#,
            ),
            (
                r#"{"KV_FIND":{"keys":["team","u2"],"path":"$[?@.n > 1]","rsp":"kv"}}"#,
                r#"{"KV_FIND_RSP":{"keys":{"team":[{"n":1},{"n":3}]},"st":1}}"#,
            ),
            (r#"{"KV_FIND":{"path":"$[","rsp":"keys"}}"#, r#"{"KV_FIND_RSP":{"st":4}}"#),
            (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"cnt":3,"st":1}}"#),
            (
                r#"{"KV_SET":{"keys":{"u1":{"name":"Ann","addr":{"city":"Leeds","zip":"LS1"},"big":123456789012345678901234567890}}}}"#,
                r#"{"KV_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"KV_UPDATE":{"key":"u1","path":"$.addr.city","value":"Hull"}}"#,
                r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["u1"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"u1":{"name":"Ann","addr":{"city":"Hull","zip":"LS1"},"big":123456789012345678901234567890}},"st":1}}"#,
            ),
            (r#"{"KV_UPDATE":{"key":"nope","path":"$","value":1}}"#, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":22}}"#),
            (r#"{"KV_SET":{"keys":{"cart":{"items":["tea"],"total":3}}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
            (
                r#"{"KV_ARR_APPEND":{"items":["milk",{"sku":7}],"key":"cart","name":"items"}}"#,
                r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#,
            ),
            (r#"{"KV_ARR_APPEND":{"items":[1],"key":"cart","name":"total"}}"#, r#"{"KV_ARR_APPEND_RSP":{"st":1000}}"#),
            (
                r#"{"KV_GET":{"keys":["cart"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"cart":{"items":["tea","milk",{"sku":7}],"total":3}},"st":1}}"#,
            ),
        ],
    );
}
