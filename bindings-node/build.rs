//! Sets the linker flags a Node addon needs (napi symbols resolve at load time).

fn main() {
    napi_build::setup();
}
