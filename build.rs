//! Sets up the link flags a Node.js addon needs (napi symbols resolve from the `node` binary).
fn main() {
    napi_build::setup();
}
