-- relrun.xml and relrun.aws.core's xml_find / xml_text / xml_all on the
-- answers relrun reads (shapes from the AWS API references / botocore
-- models), malformed input and entity bombs.
local xml = require "relrun.xml"
local core = require "relrun.aws.core"
local find, text, all = core.xml_find, core.xml_text, core.xml_all

-- The text of `name` in every element of a list.
local function texts(els, name)
  local out = {}
  for i, el in ipairs(els) do out[i] = text(el, name) end
  return out
end

local STS = [[
<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>repo:org/repo:ref:refs/tags/v1.2.3</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::111122223333:assumed-role/release/gha</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:gha</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>FwoGZXIvYXdzEXAMPLE+/=</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2026-11-24T08:00:00Z</Expiration>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <SourceIdentity/>
    <Provider>arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>]]

local S3_LIST = [[<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>releases</Name><Prefix>dist/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>dist/pkg-1.0.tar.gz</Key><LastModified>2026-11-24T06:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>dist/a &amp; b &lt;c&gt;.whl</Key><LastModified>2026-11-24T06:00:01.000Z</LastModified>
    <ETag>"e3b0c44298fc1c149afbf4c8996fb924-2"</ETag><Size>17</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
</ListBucketResult>]]

local S3_ERROR = [[<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match
 the signature you provided.</Message>
<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256
20261124T060000Z</StringToSign><RequestId>4442587FB7D0A2F9</RequestId><HostId>ZsSd3Lx+Pj7xA==</HostId></Error>]]

local IAM_GET_ROLE = [[<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetRoleResult>
    <Role>
      <Path>/</Path>
      <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D</AssumeRolePolicyDocument>
      <MaxSessionDuration>3600</MaxSessionDuration>
      <RoleId>AROA1234567890EXAMPLE</RoleId>
      <RoleLastUsed><LastUsedDate>2026-11-20T10:00:00Z</LastUsedDate><Region>us-east-1</Region></RoleLastUsed>
      <RoleName>release</RoleName>
      <Arn>arn:aws:iam::111122223333:role/release</Arn>
      <CreateDate>2026-01-01T00:00:00Z</CreateDate>
      <Tags><member><Key>team</Key><Value>platform</Value></member>
        <member><Key>env</Key><Value>prod</Value></member></Tags>
    </Role>
  </GetRoleResult>
  <ResponseMetadata><RequestId>df37e965-9967-11e1-a4c3-270EXAMPLE04</RequestId></ResponseMetadata>
</GetRoleResponse>]]

describe("decode", function()
  it("reads an STS AssumeRoleWithWebIdentity answer", function()
    local doc = assert(xml.decode(STS))
    eq(doc.name, "AssumeRoleWithWebIdentityResponse")
    eq(doc.attrs, { xmlns = "https://sts.amazonaws.com/doc/2011-06-15/" })
    local creds = find(doc, "AssumeRoleWithWebIdentityResult/Credentials")
    eq(text(creds, "AccessKeyId"), "ASIAIOSFODNN7EXAMPLE")
    eq(text(creds, "SecretAccessKey"), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
    eq(text(creds, "SessionToken"), "FwoGZXIvYXdzEXAMPLE+/=")
    eq(text(creds, "Expiration"), "2026-11-24T08:00:00Z")
    eq(text(doc, "AssumeRoleWithWebIdentityResult/SourceIdentity"), "", "an empty element has empty text")
    eq(text(doc, "AssumeRoleWithWebIdentityResult/Nope"), nil)
    eq(text(doc, "Nope/Deeper"), nil, "a missing step anywhere on the path")
    eq(text(doc, "ResponseMetadata/RequestId"), "ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE")
    eq(#find(doc, "AssumeRoleWithWebIdentityResult").children, 6)
  end)

  it("reads an S3 ListObjectsV2 answer with entities in keys and ETags", function()
    local doc = assert(xml.decode(S3_LIST))
    eq(doc.name, "ListBucketResult")
    eq(text(doc, "IsTruncated"), "true")
    eq(text(doc, "NextContinuationToken"), "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    eq(texts(all(doc, "Contents"), "Key"), { "dist/pkg-1.0.tar.gz", "dist/a & b <c>.whl" })
    eq(texts(all(doc, "Contents"), "ETag"),
      { '"9b2cf535f27731c974343645a3985328"', '"e3b0c44298fc1c149afbf4c8996fb924-2"' })
    eq(#all(doc, "Contents"), 2)
    eq(all(doc, "Nope"), {}, "no such children: an empty list")
    eq(all(nil, "Contents"), {}, "under a missing element: an empty list")
  end)

  it("reads an S3 <Error> with a multi-line field", function()
    local doc = assert(xml.decode(S3_ERROR))
    eq(doc.name, "Error")
    eq(text(doc, "Code"), "SignatureDoesNotMatch")
    eq(text(doc, "StringToSign"), "AWS4-HMAC-SHA256\n20261124T060000Z")
    eq(text(doc, "RequestId"), "4442587FB7D0A2F9")
  end)

  it("reads an IAM GetRole answer with member lists", function()
    local doc = assert(xml.decode(IAM_GET_ROLE))
    local role = find(doc, "GetRoleResult/Role")
    eq(text(role, "RoleName"), "release")
    eq(text(role, "AssumeRolePolicyDocument"), "%7B%22Version%22%3A%222012-10-17%22%7D")
    eq(text(role, "RoleLastUsed/Region"), "us-east-1")
    eq(texts(all(find(role, "Tags"), "member"), "Key"), { "team", "env" })
    eq(find(doc, ""), doc, "the empty path is the element itself")
    eq(text(role), role.text, "no path: the element's own text")
  end)

  it("keeps local names, namespace declarations and attributes", function()
    local doc = assert(xml.decode('<s3:Root xmlns:s3="urn:s3" xmlns="urn:d" a="1">'
      .. '<s3:Key k="&lt;v&gt;">x<![CDATA[<y>]]>z</s3:Key>t</s3:Root>'))
    eq(doc.name, "Root")
    eq(doc.attrs, { ["xmlns:s3"] = "urn:s3", xmlns = "urn:d", a = "1" })
    eq(doc.children[1].name, "Key")
    eq(doc.children[1].attrs.k, "<v>")
    eq(doc.children[1].text, "x<y>z")
    eq(doc.text, "t", "text is the element's own, not its children's")
  end)

  it("decodes UTF-8 and character references", function()
    local doc = assert(xml.decode("<a>caf\195\169 &#233;&#x1F600;</a>"))
    eq(doc.text, "caf\195\169 \195\169\240\159\152\128")
  end)
end)

describe("malformed input", function()
  local cases = {
    { "<a><b></a>", "mismatched tag at line 1, column 9" },
    { "", "no element found" },
    { "<a/><b/>", "junk after document element" },
    { "<a>\n  <b x=1/></a>", "not well%-formed .* at line 2, column" },
    { "<a>&undefined;</a>", "undefined entity" },
    { "just text", "syntax error" },
  }
  for _, c in ipairs(cases) do
    it(string.format("%q → nil, message", c[1]), function()
      local doc, msg = xml.decode(c[1])
      eq(doc, nil)
      ok(msg:find("^xml: ") and msg:find(c[2]), msg)
    end)
  end
  it("raises on a non-string argument", function()
    raises(function() xml.decode({}) end)
  end)
end)

describe("entity expansion", function()
  it("stops a billion laughs document (expat's amplification limit)", function()
    local lines = { '<?xml version="1.0"?>', "<!DOCTYPE lolz [", '<!ENTITY lol "lollollollollollollollollollol">' }
    for i = 1, 9 do
      local prev = i == 1 and "lol" or ("lol" .. (i - 1))
      lines[#lines + 1] = string.format('<!ENTITY lol%d "%s">', i, string.rep("&" .. prev .. ";", 10))
    end
    lines[#lines + 1] = "]><lolz>&lol9;</lolz>"
    local doc, msg = xml.decode(table.concat(lines, "\n"))
    eq(doc, nil)
    contains(msg, "amplification")
  end)
  it("does not fetch external entities", function()
    local doc = xml.decode('<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>')
    ok(doc == nil or not doc.text:find("root:"), "external entity was expanded")
  end)
end)

describe("agrees with Python's ElementTree", function()
  it("on a generated document", function()
    if not io.popen("python3 -c 'print(1)' 2>/dev/null"):read("a"):find("1") then skip("no python3") end
    local parts = { "<R>" }
    for i = 1, 200 do
      parts[#parts + 1] = string.format('<Item n="%d"><Key>k%d &amp; &#x263A;</Key><V>%s</V></Item>',
        i, i, string.rep("v", i % 7))
    end
    parts[#parts + 1] = "</R>"
    local doc = table.concat(parts)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(doc)
    f:close()
    local p = io.popen("python3 -c \"import sys,xml.etree.ElementTree as E; r=E.parse(sys.argv[1]).getroot(); "
      .. "[print(i.get('n'), i.find('Key').text, i.find('V').text or '', sep='|') for i in r]\" " .. path)
    local want = p:read("a")
    p:close()
    os.remove(path)
    local got = {}
    for _, item in ipairs(all(assert(xml.decode(doc)), "Item")) do
      got[#got + 1] = table.concat({ item.attrs.n, text(item, "Key"), text(item, "V") }, "|")
    end
    eq(table.concat(got, "\n") .. "\n", want)
  end)
end)
