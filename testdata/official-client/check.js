// Talks to a commlog sandbox with HubSpot's official Node client, unchanged
// except for basePath: create, batch create with associations, read, update,
// search, list, archive. Exits non-zero on the first surprise.
const hubspot = require('@hubspot/api-client');
const base = process.argv[2], token = process.argv[3];
const client = new hubspot.Client({ accessToken: token, basePath: base, numberOfApiCallRetries: 2 });
const assert = (c, m) => { if (!c) { console.error('FAIL: ' + m); process.exit(1); } };
(async () => {
  const contacts = await client.crm.contacts.basicApi.getPage(10);
  assert(contacts.results.length > 0, 'contacts list is empty');
  const contactId = contacts.results[0].id;
  const comm = await client.crm.objects.communications.basicApi.create({
    properties: { hs_communication_channel_type: 'SMS', hs_communication_logged_from: 'CRM',
      hs_communication_body: 'from the official client', hs_timestamp: '2024-05-01T10:00:00Z' },
    associations: [{ to: { id: contactId }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 81 }] }],
  });
  assert(comm.id, 'create returned no id');
  const batch = await client.crm.objects.communications.batchApi.create({ inputs: [1, 2, 3].map(i => ({
    properties: { hs_communication_channel_type: 'WHATS_APP', hs_communication_logged_from: 'CRM',
      hs_communication_body: 'batch ' + i, hs_timestamp: String(1714557600000 + i) },
    associations: [{ to: { id: contactId }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 81 }] }],
  })) });
  assert(batch.results.length === 3 && batch.status === 'COMPLETE', 'batch create: ' + JSON.stringify(batch));
  const got = await client.crm.objects.communications.basicApi.getById(comm.id, ['hs_communication_body'], undefined, ['contacts']);
  assert(got.properties.hs_communication_body === 'from the official client', 'read body');
  assert(got.associations && got.associations.contacts.results[0].id === contactId, 'read associations: ' + JSON.stringify(got.associations));
  const upd = await client.crm.objects.communications.basicApi.update(comm.id, { properties: { hs_communication_body: 'changed' } });
  assert(upd.properties.hs_communication_body === 'changed', 'update');
  const page = await client.crm.objects.communications.basicApi.getPage(2);
  assert(page.results.length === 2 && page.paging && page.paging.next.after, 'list paging');
  await new Promise(r => setTimeout(r, 300)); // search lags behind writes, as in HubSpot
  const found = await client.crm.objects.communications.searchApi.doSearch({
    filterGroups: [{ filters: [{ propertyName: 'hs_communication_channel_type', operator: 'EQ', value: 'WHATS_APP' }] }],
    sorts: ['hs_timestamp'], properties: ['hs_communication_body'], limit: 10, after: '0' });
  assert(found.total === 3, 'search total ' + found.total);
  await client.crm.objects.communications.basicApi.archive(comm.id);
  let notFound = false;
  try { await client.crm.objects.communications.basicApi.getById(comm.id); } catch (e) { notFound = e.code === 404; }
  assert(notFound, 'archived record still readable without archived=true');
  console.log('official client: ok');
})().catch(e => { console.error('FAIL:', e.code || '', e.body ? JSON.stringify(e.body) : e.message); process.exit(1); });
