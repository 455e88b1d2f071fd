// The Thrift sample service of the Aeraki demo (HelloService.sayHello), which
// meshbench's Thrift fleet serves and its clients call.
//
// Used by: the Rust sample server and client (code generated with the Debian
// thrift-compiler 0.17), the Apache Thrift Python peer (code generated from this
// file into tests/interop/gen-py by tests/interop/setup.sh) and the thriftpy2
// peer (which loads this file at run time).

namespace java org.aeraki
namespace py hello

service HelloService
{
    // Field 1 is Aeraki's sample, unchanged.
    //
    // Field 2 is meshbench's only extension: it carries meshbench's request id
    // and the request's attributes in-band (as key/value strings), so that every
    // endpoint can report which request it served and what it received.
    // It is optional, so a caller may leave it out, and Aeraki's own sample
    // server, generated from the IDL without it, skips the unknown field 2 while
    // reading the arguments: the wire stays compatible in both directions.
    string sayHello(1: required string name, 2: optional map<string, string> context);
}
